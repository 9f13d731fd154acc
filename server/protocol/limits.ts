/**
 * Limits of what people type, declared once: the command schemas enforce them (commands.ts) and the web
 * app shows them before anyone reaches them. No imports: the web bundle takes this file alone.
 */

/** The longest annotation text, in characters. */
export const MAX_ANNOTATION_BODY = 10_000;
