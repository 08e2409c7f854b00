/**
 * @module
 * Exact fixed-point amounts for volumes: an amount is an integer count of 10^-8 units (the
 * feed's finest size increment). Counts stay plain numbers while they are safe integers and
 * become BigInt beyond, so sums never drift and the common case allocates nothing.
 */

/** Decimal places of a unit. */
const DECIMALS = 8;
const SCALE = 1e8;

/** An exact amount in 10^-8 units: a safe-integer number or, when larger, a bigint. */
export type Units = number | bigint;

/** 10^(8-k): scales a fraction of k digits to units. */
const FRACTION_SCALE = [1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1];
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Parses a non-negative decimal string (`"0.00150000"`, `"12"`, `"3.5"`) into units.
 * Returns NaN when the string is not such a decimal or has non-zero digits past 8 places.
 * One char loop and no allocation below 10^7 (every trade size); BigInt beyond.
 */
export function parseUnits(s: string): Units {
  return parseUnitsAt(s, 0, s.length);
}

/**
 * {@linkcode parseUnits} of `s.slice(start, end)`, read in place (a scanner of frame text reads
 * sizes without cutting them out first).
 */
export function parseUnitsAt(s: string, start: number, end: number): Units {
  if (end <= start) return NaN;
  let dot = -1;
  let int = 0;
  let intDigits = 0;
  let frac = 0;
  let fracDigits = 0;
  for (let i = start; i < end; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d === -2 /* . */) {
      if (dot !== -1 || i === start || i === end - 1) return NaN;
      dot = i;
    } else if (!(d >= 0 && d <= 9)) return NaN;
    else if (dot === -1) {
      if (intDigits > 0 || d !== 0) {
        int = int * 10 + d;
        intDigits++;
      }
    } else if (fracDigits < DECIMALS) {
      frac = frac * 10 + d;
      fracDigits++;
    } else if (d !== 0) return NaN;
  }
  frac *= FRACTION_SCALE[fracDigits]!;
  // int < 10^7: int * 1e8 + frac < 2^53, exact in a double.
  if (intDigits <= 7) return int * SCALE + frac;
  const big = BigInt(s.slice(start, dot === -1 ? end : dot)) * 100_000_000n + BigInt(frac);
  return big <= MAX_SAFE ? Number(big) : big;
}

/** Exact sum of two amounts. */
export function addUnits(a: Units, b: Units): Units {
  if (typeof a === "number" && typeof b === "number") {
    const s = a + b;
    if (Number.isSafeInteger(s)) return s;
  }
  const s = BigInt(a) + BigInt(b);
  return s <= MAX_SAFE && s >= -MAX_SAFE ? Number(s) : s;
}

/** Exact difference `a - b`. */
export function subUnits(a: Units, b: Units): Units {
  return addUnits(a, typeof b === "number" ? -b : -b);
}

/** The amount as a decimal string with 8 places, e.g. `"12.48812345"`. */
function formatUnits(u: Units): string {
  const neg = u < 0;
  const digits = (neg ? -BigInt(u) : BigInt(u)).toString().padStart(DECIMALS + 1, "0");
  return `${neg ? "-" : ""}${digits.slice(0, -DECIMALS)}.${digits.slice(-DECIMALS)}`;
}

/** The amount as the nearest double (what JSON and Firestore carry). */
export function unitsToNumber(u: Units): number {
  // Dividing an exact integer by 1e8 is one correctly-rounded operation: the same double as
  // parsing the decimal string.
  if (typeof u === "number") return u / SCALE;
  return Number(formatUnits(u));
}

/** Units of a double that was produced from a decimal with ≤ 8 places (inverse of the above). */
export function numberToUnits(v: number): Units {
  if (!Number.isFinite(v) || v < 0) return NaN;
  const scaled = Math.round(v * SCALE);
  if (Number.isSafeInteger(scaled) && scaled / SCALE === v) return scaled;
  return parseUnits(v.toFixed(DECIMALS));
}
