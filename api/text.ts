import { z } from './zod.js';

/**
 * The one string schema for text the service stores. PostgreSQL refuses NUL in text (22021) and jsonb (22P05), so
 * NUL is refused here with a 400 instead of failing there with a 500. The length and pattern are checked on the
 * string as sent, which is what the OpenAPI document describes; only then is it trimmed for storage (trimming first
 * would let "  " + 200 characters pass a maxLength of 200).
 *
 * The whitespace class is spelled out, not `\s`, so that the pattern means the same in JavaScript and in the
 * clients' regex engines (Python's `\s`, for one, differs from JavaScript's on U+FEFF and U+001C..U+001F).
 */
const WHITESPACE = String.raw`\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff`;
const NO_NUL = new RegExp(String.raw`^[^\u0000]*$`);
const NOT_BLANK = new RegExp(String.raw`^[^\u0000]*[^${WHITESPACE}\u0000][^\u0000]*$`);

export interface TextOptions {
  /** Least length; 0 allows the empty string (and blank text). Default 1: something other than whitespace. */
  min?: number;
  max: number;
  /** Trim surrounding whitespace before storing (default true). Off for secrets and opaque values. */
  trim?: boolean;
}

export function text({ min = 1, max, trim = true }: TextOptions) {
  const base = z.string().min(min).max(max);
  const checked =
    min === 0
      ? base.regex(NO_NUL, 'must not contain NUL characters')
      : base.regex(NOT_BLANK, 'must contain a non-whitespace character and no NUL characters');
  return trim ? checked.trim() : checked;
}
