/**
 * @module
 * Exact fixed-point amounts for volumes: an amount is an integer count of 10^-8 units (the
 * feed's finest size increment). Counts stay plain numbers while they are safe integers and
 * become BigInt beyond, so sums never drift and the common case allocates nothing.
 */

/** Decimal places of a unit. */
export const DECIMALS = 8;
const SCALE = 1e8;

/** An exact amount in 10^-8 units: a safe-integer number or, when larger, a bigint. */
export type Units = number | bigint;

/**
 * Parses a non-negative decimal string (`"0.00150000"`, `"12"`, `"3.5"`) into units.
 * Returns NaN when the string is not such a decimal or has non-zero digits past 8 places.
 */
export function parseUnits(s: string): Units {
  const n = s.length;
  if (n === 0) return NaN;
  let dot = -1;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (dot !== -1) return NaN;
      dot = i;
    } else if (c < 48 || c > 57) return NaN;
  }
  if (dot === 0 || dot === n - 1) return NaN;
  let intPart = dot === -1 ? s : s.slice(0, dot);
  let frac = dot === -1 ? "" : s.slice(dot + 1);
  if (frac.length > DECIMALS) {
    if (!/^0*$/.test(frac.slice(DECIMALS))) return NaN;
    frac = frac.slice(0, DECIMALS);
  }
  if (intPart.length <= 7) {
    // int * 1e8 + frac < 2^53: exact in a double.
    return Number(intPart) * SCALE + (frac ? Number(frac.padEnd(DECIMALS, "0")) : 0);
  }
  intPart = intPart.replace(/^0+(?=\d)/, "");
  const big = BigInt(intPart + frac.padEnd(DECIMALS, "0"));
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/** Exact sum of two amounts. */
export function addUnits(a: Units, b: Units): Units {
  if (typeof a === "number" && typeof b === "number") {
    const s = a + b;
    if (Number.isSafeInteger(s)) return s;
  }
  const s = BigInt(a) + BigInt(b);
  return s <= BigInt(Number.MAX_SAFE_INTEGER) && s >= -BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(s)
    : s;
}

/** Exact difference `a - b`. */
export function subUnits(a: Units, b: Units): Units {
  return addUnits(a, typeof b === "number" ? -b : -b);
}

/** The amount as a decimal string with 8 places, e.g. `"12.48812345"`. */
export function formatUnits(u: Units): string {
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
