/**
 * CSV as RFC 4180 writes it (CRLF line ends, fields quoted where they hold a comma, a quote or a line break), with
 * one more rule for files people open in a spreadsheet: a text field that starts like a formula (= + - @, a tab or a
 * carriage return) is prefixed with an apostrophe, so a name a studio typed can never run as a formula (OWASP's
 * advice on CSV injection). Numbers are written as they are.
 */
export type CsvValue = string | number | null | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

export function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(header: readonly string[], rows: readonly (readonly CsvValue[])[]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}
