import assert from "node:assert/strict";
import {
  Counter,
  Gauge,
  Histogram,
  type Reading,
  Registry,
  ScrapedCounter,
} from "../../lib/service/prometheus.ts";
import { promtoolCheck, promtoolTest } from "../helpers/promtool.ts";

/** A registry holding one metric of every kind, each observed, and the sources it reads. */
function everyKind() {
  const r = new Registry();
  const source = { frames: 0, states: [[{ state: "subscribed" }, 2]] as Reading, pending: 7 };
  const plain = r.add(new Counter("t_trades_total", "Trades"));
  const labelled = r.add(
    new Counter("t_candles_completed_total", "Completed", ["granularity", "correction"]),
  );
  r.add(new ScrapedCounter("t_feed_frames_total", "Frames", () => source.frames));
  r.add(new Gauge("t_connections", "By state", () => source.states, ["state"]));
  r.add(new Gauge("t_pending_writes", "Pending", () => source.pending));
  const latency = r.add(new Histogram("t_latency_seconds", "Latency", [0.01, 0.1, 1]));
  plain.inc(3);
  plain.inc();
  labelled.inc(1, { granularity: "ONE_MINUTE", correction: "false" });
  labelled.inc(2, { granularity: "ONE_MINUTE", correction: "true" });
  source.frames = 41;
  latency.observe(0.005);
  latency.observe(0.5);
  return { r, source };
}

/** The sample lines of a rendering (comments dropped). */
function samples(text: string): string[] {
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

Deno.test("Registry renders every kind of metric with its values", async (t) => {
  const { r, source } = everyKind();
  const text = await r.render();
  await t.step("each metric has HELP and the TYPE its name calls for", () => {
    for (
      const [name, type] of [
        ["t_trades_total", "counter"],
        ["t_candles_completed_total", "counter"],
        ["t_feed_frames_total", "counter"],
        ["t_connections", "gauge"],
        ["t_pending_writes", "gauge"],
        ["t_latency_seconds", "histogram"],
      ]
    ) {
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"));
      assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, "m"));
    }
  });
  await t.step("samples carry the counted, read and observed values", () => {
    assert.deepEqual(samples(text), [
      "t_trades_total 4",
      't_candles_completed_total{granularity="ONE_MINUTE",correction="false"} 1',
      't_candles_completed_total{granularity="ONE_MINUTE",correction="true"} 2',
      "t_feed_frames_total 41",
      't_connections{state="subscribed"} 2',
      "t_pending_writes 7",
      't_latency_seconds_bucket{le="0.01"} 1',
      't_latency_seconds_bucket{le="0.1"} 1',
      't_latency_seconds_bucket{le="1"} 2',
      't_latency_seconds_bucket{le="+Inf"} 2',
      "t_latency_seconds_sum 0.505",
      "t_latency_seconds_count 2",
    ]);
  });
  await t.step("scrape-time metrics follow their source, and vanished label sets go", async () => {
    source.frames = 50;
    source.states = [[{ state: "reconnecting" }, 1]];
    const again = samples(await r.render());
    assert.ok(again.includes("t_feed_frames_total 50"), again.join("\n"));
    assert.ok(again.includes('t_connections{state="reconnecting"} 1'), again.join("\n"));
    assert.ok(!again.some((l) => l.includes('state="subscribed"')), again.join("\n"));
  });
});

Deno.test("a gauge named like a counter (…_total) is refused", () => {
  assert.throws(
    () => new Gauge("t_frames_total", "Frames", () => 1),
    /t_frames_total is named like a counter: declare it a counter/,
  );
});

promtoolTest("promtool check metrics passes the registry's text", async (t, promtool) => {
  await t.step("a registry with every kind of metric observed passes", async () => {
    const result = await promtoolCheck(await everyKind().r.render(), promtool);
    assert.deepEqual(result, { code: 0, output: "" });
  });
  await t.step(
    "promtool does reject a gauge named …_total (the old /metrics mistake)",
    async () => {
      const result = await promtoolCheck(
        "# HELP t_frames_total Frames\n# TYPE t_frames_total gauge\nt_frames_total 1\n",
        promtool,
      );
      assert.notEqual(result.code, 0);
      assert.match(result.output, /t_frames_total non-counter metrics should not have "_total"/);
    },
  );
});
