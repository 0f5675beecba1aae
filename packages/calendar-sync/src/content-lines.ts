/**
 * The content-line format iCalendar (RFC 5545 §3.1) and vCard (RFC 6350 §3.2) share: `NAME;PARAMS:value`
 * lines of at most 75 octets, longer ones folded with CRLF + one space, every line ending in CRLF.
 * Written here rather than taken from ical-generator, whose folder spends ~1 ms per event (it
 * builds a TextEncoder per character), which made a 1,000-match feed take a second to render.
 */

const MAX_LINE_OCTETS = 75;
// C0 controls other than TAB and LF, and DEL: not allowed in either format's text values.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL_CHARS = /[\u0000-\u0008\u000B-\u001F\u007F]/g;

/** Normalises line breaks to LF and drops control characters FOGIS text might carry. */
export function cleanText(value: string): string {
  return value.replace(/\r\n?/g, "\n").replace(CONTROL_CHARS, "");
}

/** RFC 5545 TEXT: backslash, semicolon and comma escaped, line breaks as `\n`. */
export function escapeIcalText(value: string): string {
  return cleanText(value)
    .replace(/[\\;,]/g, (c) => `\\${c}`)
    .replace(/\n/g, "\\n");
}

/**
 * RFC 6350 text: backslash and comma escaped, line breaks as `\n`. A semicolon is escaped only
 * inside a component of a structured value (N, ADR), where it would otherwise split the value.
 */
export function escapeVcardText(value: string, { component = false } = {}): string {
  const pattern = component ? /[\\,;]/g : /[\\,]/g;
  return cleanText(value)
    .replace(pattern, (c) => `\\${c}`)
    .replace(/\n/g, "\\n");
}

/** Folds one unfolded line at 75 octets without splitting a UTF-8 sequence. */
export function foldLine(line: string): string {
  if (line.length <= MAX_LINE_OCTETS && Buffer.byteLength(line) <= MAX_LINE_OCTETS) return line;
  const parts: string[] = [];
  let start = 0;
  let octets = 0;
  let limit = MAX_LINE_OCTETS;
  for (let i = 0; i < line.length; ) {
    const code = line.charCodeAt(i);
    const pair = code >= 0xd800 && code <= 0xdbff && i + 1 < line.length;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : pair ? 4 : 3;
    if (octets + size > limit) {
      parts.push(line.slice(start, i));
      start = i;
      octets = 0;
      limit = MAX_LINE_OCTETS - 1; // continuation lines start with a space
    }
    octets += size;
    i += pair ? 2 : 1;
  }
  parts.push(line.slice(start));
  return parts.join("\r\n ");
}

/** Collects content lines and joins them with CRLF, each one folded. */
export class ContentLines {
  private readonly lines: string[] = [];

  /** Adds `name[;params]:value`; `value` must already be escaped for its format. */
  add(name: string, value: string, params = ""): this {
    this.lines.push(foldLine(`${name}${params}:${value}`));
    return this;
  }

  toString(): string {
    return this.lines.length ? `${this.lines.join("\r\n")}\r\n` : "";
  }
}

/** `20250506T150000Z`: a UTC DATE-TIME as both formats write it. */
export function formatUtcDateTime(instant: Date): string {
  return instant
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}
