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

/**
 * A monotonically increasing count, incremented in process, optionally by label values. An
 * unlabelled one counts in a plain number, handed to prom-client at scrape time (its `inc`
 * hashes a label object on every call: the hot path counts every frame).
 */
export class Counter implements Metric {
  readonly inner: client.Counter;
  readonly #labelled: boolean;
  #value = 0;
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    this.#labelled = labelNames.length > 0;
    // deno-lint-ignore no-this-alias
    const self = this;
    this.inner = new client.Counter({
      name,
      help,
      labelNames,
      registers: [],
      collect: this.#labelled ? undefined : function () {
        this.reset();
        this.inc(self.#value);
      },
    });
  }

  inc(by = 1, labels?: Labels): void {
    if (this.#labelled) this.inner.inc(labels ?? {}, by);
    else if (labels === undefined || Object.keys(labels).length === 0) {
      if (!(by >= 0)) throw new RangeError(`A counter only goes up: inc(${by})`);
      this.#value += by;
    } else this.inner.inc(labels, by); // prom-client's own error for an undeclared label
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

/**
 * Observations in cumulative buckets (seconds by convention), unlabelled. Counted in a typed
 * array (prom-client's `observe` builds a label object, hashes it and looks a bucket up by its
 * bound as a property name: three of them run for every trade frame); prom-client renders it
 * from the samples `get()` hands its registry, as it renders its own histograms.
 */
export class Histogram implements Metric {
  readonly inner: client.Metric;
  readonly #bounds: Float64Array;
  /** Per bucket (not cumulative); the last one is `+Inf`. */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(name: string, help: string, buckets: readonly number[]) {
    const bounds = [...buckets].sort((a, b) => a - b);
    this.#bounds = Float64Array.from(bounds);
    this.#counts = new Float64Array(bounds.length + 1);
    const samples = () => {
      const values: {
        labels: Labels | { le: number | string };
        value: number;
        metricName: string;
      }[] = [];
      let acc = 0;
      bounds.forEach((le, i) => {
        acc += this.#counts[i]!;
        values.push({ labels: { le }, value: acc, metricName: `${name}_bucket` });
      });
      values.push({ labels: { le: "+Inf" }, value: this.#count, metricName: `${name}_bucket` });
      values.push({ labels: {}, value: this.#sum, metricName: `${name}_sum` });
      values.push({ labels: {}, value: this.#count, metricName: `${name}_count` });
      return { name, help, type: "histogram", values, aggregator: "sum" };
    };
    // The registry reads a metric through `get()` (and its `name`), whatever its class.
    this.inner = {
      name,
      help,
      type: "histogram",
      aggregator: "sum",
      get: () => Promise.resolve(samples()),
      reset: () => {
        this.#counts.fill(0);
        this.#sum = 0;
        this.#count = 0;
      },
    } as unknown as client.Metric;
  }

  observe(v: number): void {
    if (!Number.isFinite(v)) throw new TypeError(`Value is not a valid number: ${v}`);
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += v;
    this.#count++;
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
