/**
 * @module
 * Allocation-free checks and parsers for the string values in Coinbase frames (digits, product
 * ids, positive decimals, RFC 3339 timestamps with any fraction width). Char loops rather than
 * regular expressions: they run for every trade field. Used by `messages.ts`.
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

/**
 * Whether `s` is a size {@linkcode parseUnits} accepts as positive: a plain decimal (`12`,
 * `0.00150000`) with no non-zero digit past 8 places and a non-zero digit within them. The same
 * answer as `parseUnits(s) > 0`, without allocating.
 */
export function isPositiveUnits(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  let dot = -1;
  let nonZero = false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (dot !== -1 || i === 0 || i === n - 1) return false;
      dot = i;
    } else if (c < 48 || c > 57) return false;
    else if (c !== 48) {
      if (dot !== -1 && i - dot > 8) return false;
      nonZero = true;
    }
  }
  return nonZero;
}

function digitsAt(s: string, from: number, count: number): number {
  let v = 0;
  for (let i = from; i < from + count; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v;
}

let cachedDay = "";
let cachedDayMs = NaN;

/** Epoch ms of the UTC day `s` starts with (`YYYY-MM-DD`), cached: a frame's trades share it. */
function dayMs(s: string, year: number, month: number, day: number): number {
  const c = cachedDay;
  if (
    c.length === 10 && s.charCodeAt(9) === c.charCodeAt(9) && s.charCodeAt(8) === c.charCodeAt(8) &&
    s.charCodeAt(6) === c.charCodeAt(6) && s.charCodeAt(5) === c.charCodeAt(5) &&
    s.charCodeAt(3) === c.charCodeAt(3) && s.charCodeAt(2) === c.charCodeAt(2) &&
    s.charCodeAt(1) === c.charCodeAt(1) && s.charCodeAt(0) === c.charCodeAt(0)
  ) return cachedDayMs;
  cachedDayMs = Date.UTC(year, month - 1, day);
  cachedDay = s.slice(0, 10);
  return cachedDayMs;
}

/**
 * Parses RFC 3339 (`2026-03-14T15:09:28.201551Z`, any fraction width, `Z` or `±hh:mm`) into
 * epoch milliseconds, keeping sub-millisecond digits as a fraction. NaN when malformed.
 */
export function parseRfc3339(s: string): number {
  if (s.length < 20 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return NaN;
  const t = s.charCodeAt(10);
  if ((t !== 84 && t !== 116 && t !== 32) || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) {
    return NaN;
  }
  const year = digitsAt(s, 0, 4);
  const month = digitsAt(s, 5, 2);
  const day = digitsAt(s, 8, 2);
  const hour = digitsAt(s, 11, 2);
  const minute = digitsAt(s, 14, 2);
  const second = digitsAt(s, 17, 2);
  if (
    !(month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 &&
      second <= 60)
  ) return NaN;
  let i = 19;
  let frac = 0;
  if (s.charCodeAt(i) === 46) {
    let scale = 100;
    i++;
    const start = i;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      frac += c * scale;
      scale /= 10;
    }
    if (i === start) return NaN;
  }
  let offsetMin = 0;
  const z = s.charCodeAt(i);
  if ((z === 90 || z === 122) && i === s.length - 1) {
    offsetMin = 0;
  } else if ((z === 43 || z === 45) && i === s.length - 6 && s.charCodeAt(i + 3) === 58) {
    const oh = digitsAt(s, i + 1, 2);
    const om = digitsAt(s, i + 4, 2);
    if (Number.isNaN(oh) || Number.isNaN(om)) return NaN;
    offsetMin = (z === 43 ? 1 : -1) * (oh * 60 + om);
  } else return NaN;
  const ms = dayMs(s, year, month, day) + hour * 3_600_000 + minute * 60_000 + second * 1000;
  return ms + Math.round(frac * 1000) / 1000 - offsetMin * 60_000;
}
