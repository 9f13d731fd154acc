/** Annotations: authored by the authenticated user, anchored to an item, a native-form line or a text range. */
export type AnnotationAnchor =
  | { kind: 'item'; itemId: string }
  | { kind: 'line'; revision: number; line: number }
  /** Yjs relative positions (base64 of Y.encodeRelativePosition) into the draft's justification text. */
  | { kind: 'text'; start: string; end: string; quote: string };

export interface Annotation {
  id: string;
  changeId: string;
  author: string;
  anchor: AnnotationAnchor;
  body: string;
  /** Set on replies: the thread's first annotation. */
  parentId?: string;
  resolved: boolean;
  resolvedBy?: string;
  deleted: boolean;
  createdAt: string;
  editedAt?: string;
  /** The revision that was current when it was written. */
  revision: number;
}
