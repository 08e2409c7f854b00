/**
 * @module
 * The service's Prometheus registry, on `prom-client` (the Node client, which runs unchanged
 * under Deno): counters, counters and gauges read at scrape time, and histograms, rendered in the
 * text exposition format (version 0.0.4) for `GET /metrics`. A small facade so that
 * `metrics.ts` declares each metric in one line and never touches prom-client's API: every
 * metric named `…_total` is a counter (promtool rejects anything else), label names are declared
 * up front, and values read at scrape time come from a function.
 */
import client from "prom-client";

/** Label values of one sample. */
export type Labels = Record<string, string>;

/** What a scrape-time metric reads: one value, or one value per label set. */
export type Reading = number | [Labels, number][];

/** The content type of {@linkcode Registry.render}'s text. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

interface Metric {
  readonly inner: client.Metric;
}

/** Writes a reading into a gauge-like prom-client metric after clearing the previous one. */
function apply(reading: Reading, reset: () => void, set: (labels: Labels, v: number) => void) {
  reset();
  if (typeof reading === "number") set({}, reading);
  else for (const [labels, v] of reading) set(labels, v);
}

/** A monotonically increasing count, incremented in process, optionally by label values. */
export class Counter implements Metric {
  readonly inner: client.Counter;
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    this.inner = new client.Counter({ name, help, labelNames, registers: [] });
  }

  inc(by = 1, labels: Labels = {}): void {
    this.inner.inc(labels, by);
  }
}

/**
 * A count kept elsewhere (feed, writer, aggregator) over the process lifetime, read at scrape
 * time: a counter to Prometheus (its source never decreases), without a second copy to update.
 */
export class ScrapedCounter implements Metric {
  readonly inner: client.Counter;
  constructor(name: string, help: string, read: () => Reading, labelNames: readonly string[] = []) {
    this.inner = new client.Counter({
      name,
      help,
      labelNames,
      registers: [],
      collect() {
        apply(read(), () => this.reset(), (labels, v) => this.inc(labels, v));
      },
    });
  }
}

/** A value read at scrape time, optionally one per label set. */
export class Gauge implements Metric {
  readonly inner: client.Gauge;
  constructor(name: string, help: string, read: () => Reading, labelNames: readonly string[] = []) {
    if (name.endsWith("_total")) {
      throw new TypeError(`Metric ${name} is named like a counter: declare it a counter`);
    }
    this.inner = new client.Gauge({
      name,
      help,
      labelNames,
      registers: [],
      collect() {
        apply(read(), () => this.reset(), (labels, v) => this.set(labels, v));
      },
    });
  }
}

/** Observations in cumulative buckets (seconds by convention). */
export class Histogram implements Metric {
  readonly inner: client.Histogram;
  constructor(name: string, help: string, buckets: readonly number[]) {
    this.inner = new client.Histogram({ name, help, buckets: [...buckets], registers: [] });
  }

  observe(v: number): void {
    this.inner.observe(v);
  }
}

/** A set of metrics rendered together. */
export class Registry {
  readonly #inner = new client.Registry();

  add<M extends Metric>(m: M): M {
    this.#inner.registerMetric(m.inner);
    return m;
  }

  /** The exposition text (scrape-time metrics are read now). */
  render(): Promise<string> {
    return this.#inner.metrics();
  }
}
