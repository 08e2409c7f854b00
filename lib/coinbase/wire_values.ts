/**
 * @module
 * Allocation-free checks for the string values in Coinbase frames (digits, product ids,
 * positive decimals) and the service's one RFC 3339 parser. Char loops rather than regular
 * expressions: they run for every trade field. Used by `messages.ts`.
 */

/** Whether `s` is a non-empty run of ASCII digits. */
export function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** `BASE-QUOTE` with upper-case letters and digits (same rule as `config.isProductId`). */
export function isProductIdFast(s: string): boolean {
  const n = s.length;
  let dash = -1;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 45) {
      if (dash !== -1) return false;
      dash = i;
    } else if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90))) return false;
  }
  return dash >= 1 && dash <= 20 && n - dash - 1 >= 1 && n - dash - 1 <= 20;
}

/** A plain decimal (`12`, `0.0015`) greater than zero, any number of places. */
export function isPositiveDecimal(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > 40) return false;
  let dot = -1;
  let nonZero = false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (dot !== -1 || i === 0 || i === n - 1) return false;
      dot = i;
    } else if (c < 48 || c > 57) return false;
    else if (c !== 48) nonZero = true;
  }
  return nonZero;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Two ASCII digits at `i`, or NaN. */
function twoDigits(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : NaN;
}

/** Epoch ms of `YYYY-MM-DDThh:mm:ss` at `o` in `s` (read as UTC), or NaN. */
function dateTimeMs(s: string, o: number): number {
  if (
    s.charCodeAt(o + 4) !== 45 || s.charCodeAt(o + 7) !== 45 || s.charCodeAt(o + 13) !== 58 ||
    s.charCodeAt(o + 16) !== 58
  ) return NaN;
  const t = s.charCodeAt(o + 10);
  if (t !== 84 && t !== 116) return NaN;
  const year = twoDigits(s, o) * 100 + twoDigits(s, o + 2);
  const month = twoDigits(s, o + 5);
  const day = twoDigits(s, o + 8);
  const hour = twoDigits(s, o + 11);
  const minute = twoDigits(s, o + 14);
  const second = twoDigits(s, o + 17);
  if (!(month >= 1 && month <= 12 && day >= 1 && hour <= 23 && minute <= 59 && second <= 59)) {
    return NaN;
  }
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0)) return NaN;
  // Date.UTC reads years 0–99 as 1900–1999: shift by 400 years (146,097 days) and back.
  return year < 100
    ? Date.UTC(year + 400, month - 1, day, hour, minute, second) - 146_097 * 86_400_000
    : Date.UTC(year, month - 1, day, hour, minute, second);
}

/**
 * The char codes of the last valid `YYYY-MM-DDThh:mm:ss` parsed, and its epoch ms. Before the
 * first, 19 zeros and NaN: a text of NULs that matches them parses to NaN, as it should.
 */
const cachedPrefix = new Uint16Array(19);
let cachedPrefixMs = NaN;

/**
 * Whether `s` has the cached `YYYY-MM-DDThh:mm:ss` at `o` (compared from the seconds up, where
 * two times of a feed differ first).
 */
function hasCachedPrefix(s: string, o: number): boolean {
  for (let i = 18; i >= 0; i--) if (s.charCodeAt(o + i) !== cachedPrefix[i]) return false;
  return true;
}

/**
 * The one RFC 3339 parser: `2026-03-14T15:09:28.201551Z`, a fraction of any width (Go prints
 * 0–9 digits), `Z` or a `±hh:mm` offset, into integer epoch milliseconds (digits past the
 * millisecond dropped, as `Date.parse` does). NaN when malformed, including impossible dates
 * (`02-30`) and leap seconds. The trades of a frame share their second, so the
 * `YYYY-MM-DDThh:mm:ss` part is parsed once and cached: a hit costs one char compare and the
 * fraction loop, and allocates nothing.
 */
export function parseRfc3339(s: string): number {
  return parseRfc3339At(s, 0, s.length);
}

/**
 * {@linkcode parseRfc3339} of `s.slice(start, end)`, read in place (for a scanner of frame text);
 * `end` must not pass the end of `s`.
 */
export function parseRfc3339At(s: string, start: number, end: number): number {
  if (end - start < 20) return NaN;
  let ms: number;
  if (hasCachedPrefix(s, start)) ms = cachedPrefixMs;
  else {
    ms = dateTimeMs(s, start);
    if (Number.isNaN(ms)) return NaN;
    for (let i = 0; i < 19; i++) cachedPrefix[i] = s.charCodeAt(start + i);
    cachedPrefixMs = ms;
  }
  let i = start + 19;
  let c = s.charCodeAt(i);
  if (c === 46 /* . */) {
    const first = ++i;
    let frac = 0;
    for (; i < end; i++) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      if (i - first < 3) frac = frac * 10 + d;
    }
    const digits = i - first;
    if (digits === 0) return NaN;
    ms += digits === 1 ? frac * 100 : digits === 2 ? frac * 10 : frac;
    c = i < end ? s.charCodeAt(i) : NaN;
  }
  if (c === 90 /* Z */ || c === 122 /* z */) return i === end - 1 ? ms : NaN;
  if ((c !== 43 && c !== 45) || i !== end - 6 || s.charCodeAt(i + 3) !== 58) return NaN;
  const hours = twoDigits(s, i + 1);
  const minutes = twoDigits(s, i + 4);
  if (!(hours <= 23 && minutes <= 59)) return NaN;
  const offsetMs = (hours * 60 + minutes) * 60_000;
  return c === 43 /* + */ ? ms - offsetMs : ms + offsetMs;
}
