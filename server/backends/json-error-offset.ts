/**
 * Where JSON text stops being valid. `JSON.parse` in current V8 names the bad token but no longer its
 * position, and a reviewer fixing a change file by hand needs the line. A small recursive-descent scan
 * of RFC 8259 syntax, used only after `JSON.parse` has failed.
 */

/** Offset of the first syntax error, or undefined when the text is valid JSON. */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const ws = () => { while (/[ \t\r\n]/.test(text[i] ?? '')) i++; };
  const fail = (): never => { throw i; };
  const expect = (s: string) => { if (text.startsWith(s, i)) i += s.length; else fail(); };
  const string = () => {
    expect('"');
    while (text[i] !== '"') {
      const c = text[i];
      if (c === undefined || c < ' ') fail();
      if (c === '\\') { i++; if (text[i] === 'u') { if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail(); i += 4; } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail(); }
      i++;
    }
    i++;
  };
  const number = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) fail();
    i += m?.[0].length ?? 0;
  };
  const list = (close: string, item: () => void) => {
    i++; ws();
    if (text[i] === close) { i++; return; }
    for (;;) {
      item(); ws();
      if (text[i] === close) { i++; return; }
      expect(','); ws();
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') list('}', () => { string(); ws(); expect(':'); value(); });
    else if (c === '[') list(']', value);
    else if (c === '"') string();
    else if (c === 't') expect('true');
    else if (c === 'f') expect('false');
    else if (c === 'n') expect('null');
    else number();
  };
  try {
    value(); ws();
    return i < text.length ? i : undefined;
  } catch (offset) {
    return typeof offset === 'number' ? offset : 0;
  }
}
