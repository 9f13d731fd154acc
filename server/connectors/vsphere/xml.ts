/**
 * The little XML the vim25 SOAP client needs: escaping for requests and a bounded parser for responses.
 * The parser keeps element names without their namespace prefix, attributes by their qualified name
 * (`type`, `xsi:type`), and each element's character data. It refuses DTDs (no entity expansion), nesting
 * deeper than `maxDepth` and more than `maxNodes` elements, so a hostile or runaway server costs bounded
 * memory on top of the response's bytes (which the transport bounds).
 */

export interface XmlNode {
  /** Local name: `RetrieveServiceContentResponse`, `returnval`. */
  name: string;
  /** Attributes by qualified name: `type`, `xsi:type`, `xmlns`. */
  attrs: Record<string, string>;
  children: XmlNode[];
  /** The element's own character data (entities decoded), concatenated. */
  text: string;
}

export class XmlError extends Error {
  /** True when the document broke a limit rather than the grammar. */
  readonly tooLarge: boolean;
  constructor(message: string, tooLarge = false) {
    super(message);
    this.name = 'XmlError';
    this.tooLarge = tooLarge;
  }
}

export interface XmlLimits {
  maxDepth: number;
  maxNodes: number;
}

const DEFAULT_LIMITS: XmlLimits = { maxDepth: 64, maxNodes: 2_000_000 };

// Characters XML 1.0 allows (§2.2); anything else cannot be sent, escaped or not.
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Escapes text or an attribute value. Throws XmlError on a character XML 1.0 cannot carry (NUL, ...). */
export function escapeXml(s: string): string {
  if (NOT_XML_CHAR.test(s)) throw new XmlError('the value contains a character XML cannot carry (a control character or a lone surrogate)');
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&([^;&\s]{1,10});/g, (whole, ref: string) => {
    if (ref in NAMED) return NAMED[ref] as string;
    const code = ref.startsWith('#x') ? Number.parseInt(ref.slice(2), 16) : ref.startsWith('#') ? Number.parseInt(ref.slice(1), 10) : Number.NaN;
    if (!Number.isInteger(code) || code < 0 || code > 0x10ffff) throw new XmlError(`unknown entity ${whole}`);
    return String.fromCodePoint(code);
  });
}

const localName = (qname: string): string => {
  const i = qname.indexOf(':');
  return i < 0 ? qname : qname.slice(i + 1);
};

const ATTR = /([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/** Parses one XML document into its root element. */
export function parseXml(text: string, limits: XmlLimits = DEFAULT_LIMITS): XmlNode {
  const stack: XmlNode[] = [];
  let root: XmlNode | undefined;
  let nodes = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const lt = text.indexOf('<', i);
    const end = lt < 0 ? n : lt;
    if (end > i) {
      const chars = text.slice(i, end);
      const top = stack.at(-1);
      if (top) top.text += decode(chars);
      else if (chars.trim() !== '') throw new XmlError('text outside the root element');
    }
    if (lt < 0) break;
    if (text.startsWith('<?', lt)) {
      const close = text.indexOf('?>', lt + 2);
      if (close < 0) throw new XmlError('unterminated processing instruction');
      i = close + 2;
    } else if (text.startsWith('<!--', lt)) {
      const close = text.indexOf('-->', lt + 4);
      if (close < 0) throw new XmlError('unterminated comment');
      i = close + 3;
    } else if (text.startsWith('<![CDATA[', lt)) {
      const close = text.indexOf(']]>', lt + 9);
      if (close < 0) throw new XmlError('unterminated CDATA section');
      const top = stack.at(-1);
      if (!top) throw new XmlError('CDATA outside the root element');
      top.text += text.slice(lt + 9, close);
      i = close + 3;
    } else if (text.startsWith('<!', lt)) {
      throw new XmlError('DTDs and declarations are not accepted');
    } else if (text.startsWith('</', lt)) {
      const close = text.indexOf('>', lt + 2);
      if (close < 0) throw new XmlError('unterminated end tag');
      const name = localName(text.slice(lt + 2, close).trim());
      const top = stack.pop();
      if (!top || top.name !== name) throw new XmlError(`end tag </${name}> does not match <${top?.name ?? '(none)'}>`);
      i = close + 1;
    } else {
      // A start tag: find its `>` outside quoted attribute values.
      let j = lt + 1;
      let quote = '';
      for (; j < n; j++) {
        const c = text[j];
        if (quote) {
          if (c === quote) quote = '';
        } else if (c === '"' || c === "'") {
          quote = c;
        } else if (c === '>') {
          break;
        }
      }
      if (j >= n) throw new XmlError('unterminated start tag');
      const selfClosing = text[j - 1] === '/';
      const body = text.slice(lt + 1, selfClosing ? j - 1 : j);
      const nameEnd = body.search(/[\s/]|$/);
      const qname = body.slice(0, nameEnd);
      if (qname === '') throw new XmlError('element without a name');
      const attrs: Record<string, string> = {};
      for (const m of body.slice(nameEnd).matchAll(ATTR)) attrs[m[1] as string] = decode(m[2] ?? m[3] ?? '');
      const node: XmlNode = { name: localName(qname), attrs, children: [], text: '' };
      if (++nodes > limits.maxNodes) throw new XmlError(`more than ${limits.maxNodes} elements`, true);
      const parent = stack.at(-1);
      if (parent) parent.children.push(node);
      else if (root) throw new XmlError('a second root element');
      else root = node;
      if (!selfClosing) {
        stack.push(node);
        if (stack.length > limits.maxDepth) throw new XmlError(`nested deeper than ${limits.maxDepth} elements`, true);
      }
      i = j + 1;
    }
  }
  if (stack.length > 0) throw new XmlError(`unclosed element <${stack.at(-1)?.name}>`);
  if (!root) throw new XmlError('no root element');
  return root;
}

/** The first child called `name`. */
export const child = (node: XmlNode, name: string): XmlNode | undefined => node.children.find((c) => c.name === name);

/** Every child called `name`. */
export const children = (node: XmlNode, name: string): XmlNode[] => node.children.filter((c) => c.name === name);

/** The `xsi:type` of an element (any prefix), without its prefix: `ManagedObjectReference`, `ArrayOfAuthorizationRole`. */
export function xsiType(node: XmlNode): string | undefined {
  for (const [k, v] of Object.entries(node.attrs)) {
    if (k.endsWith(':type')) return localName(v);
  }
  return undefined;
}
