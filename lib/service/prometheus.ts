/**
 * @module
 * A small Prometheus registry: counters, gauges and histograms rendered in the text exposition
 * format (version 0.0.4) for `GET /metrics`. Gauges may be computed at scrape time.
 */

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k}="${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}

interface Metric {
  render(): string[];
}

/** A monotonically increasing count, optionally by label values. */
export class Counter implements Metric {
  readonly #values = new Map<string, [Labels, number]>();
  constructor(readonly name: string, readonly help: string) {}

  inc(by = 1, labels: Labels = {}): void {
    const key = labelText(labels);
    const cur = this.#values.get(key);
    if (cur) cur[1] += by;
    else this.#values.set(key, [labels, by]);
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.#values.size === 0) lines.push(`${this.name} 0`);
    for (const [key, [, v]] of this.#values) lines.push(`${this.name}${key} ${v}`);
    return lines;
  }
}

/** A value read at scrape time. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => number | [Labels, number][],
  ) {}

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    const v = this.read();
    if (typeof v === "number") lines.push(`${this.name} ${Number.isFinite(v) ? v : "NaN"}`);
    else for (const [labels, x] of v) lines.push(`${this.name}${labelText(labels)} ${x}`);
    return lines;
  }
}

/** Observations in cumulative buckets (seconds by convention). */
export class Histogram implements Metric {
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {
    this.#counts = new Array(buckets.length).fill(0);
  }

  observe(v: number): void {
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.#counts[i]!++;
    this.#sum += v;
    this.#count++;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.#counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`);
    lines.push(`${this.name}_sum ${this.#sum}`, `${this.name}_count ${this.#count}`);
    return lines;
  }
}

/** A set of metrics rendered together. */
export class Registry {
  readonly #metrics: Metric[] = [];

  add<M extends Metric>(m: M): M {
    this.#metrics.push(m);
    return m;
  }

  /** The exposition text. */
  render(): string {
    return this.#metrics.flatMap((m) => m.render()).join("\n") + "\n";
  }
}
