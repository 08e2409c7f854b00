/**
 * @module
 * Reading the service's `/metrics` (Prometheus text format) for the bench: the sum of a
 * counter's series and quantiles of a histogram between two scrapes.
 */

/** One scrape: sample name with labels → value. */
export type Scrape = Map<string, number>;

/** Fetches and parses `/metrics`. */
export async function scrape(baseUrl: string): Promise<Scrape> {
  const res = await fetch(`${baseUrl}/metrics`);
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`GET ${baseUrl}/metrics answered ${res.status}: ${text.slice(0, 200)}`);
  }
  const out: Scrape = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

/** Sum of every series of metric `name` (any labels). */
export function total(s: Scrape, name: string): number {
  let sum = 0;
  for (const [key, v] of s) {
    if (key === name || key.startsWith(`${name}{`)) sum += v;
  }
  return sum;
}

/**
 * Quantile `q` of histogram `name` over the observations between scrapes `a` and `b`, by linear
 * interpolation inside the bucket (NaN when nothing was observed).
 */
export function histogramQuantile(a: Scrape, b: Scrape, name: string, q: number): number {
  const buckets: [number, number][] = [];
  for (const [key, v] of b) {
    if (!key.startsWith(`${name}_bucket{`)) continue;
    const le = key.match(/le="([^"]+)"/)?.[1];
    if (le === undefined) continue;
    buckets.push([le === "+Inf" ? Infinity : Number(le), v - (a.get(key) ?? 0)]);
  }
  buckets.sort((x, y) => x[0] - y[0]);
  const count = buckets.at(-1)?.[1] ?? 0;
  if (count <= 0) return NaN;
  const target = q * count;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of buckets) {
    if (c >= target) {
      if (le === Infinity) return prevLe;
      return prevLe +
        (le - prevLe) * (c === prevCount ? 0 : (target - prevCount) / (c - prevCount));
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}
