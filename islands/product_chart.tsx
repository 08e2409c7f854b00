/**
 * @module
 * Island: one product's candles at a chosen granularity — live summary, a candlestick chart
 * (`lightweight-charts`, created in the browser only) and a table of the most recent candles.
 * Server-rendered with the candles the server read; then history comes from `/api/candles`
 * (again after every reconnect, to fill what a drop missed) and updates from `/api/stream`.
 */
import type { VNode } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import {
  changeClass,
  changePercent,
  formatChange,
  formatDateTime,
  formatPrice,
  formatTime,
  formatVolume,
} from "./format.ts";
import { LinkNotice } from "./overview_status.tsx";
import type { CandleRow } from "../lib/service/view.ts";
import { type CandleEvent, useCandleStream } from "./stream.ts";
import { type ChartHandle, mountChart } from "./chart.ts";

/** A candle as `/api/candles` returns it. */
export type ChartCandle = CandleRow;

/** Props of {@linkcode ProductChart}. */
export interface ProductChartProps {
  product: string;
  /** Selected granularity, short name (`1m`). */
  granularity: string;
  granularities: string[];
  /** The latest candles (oldest first) at `granularity`, as rendered by the server. */
  candles: ChartCandle[];
}

/** Candles loaded for the chart. */
export const HISTORY_LIMIT = 300;
const RECENT_ROWS = 12;

/** Inserts or replaces `c` (by start) in `list`, sorted oldest first, bounded in length. */
function upsert(list: ChartCandle[], c: ChartCandle): ChartCandle[] {
  const i = list.findLastIndex((x) => x.start <= c.start);
  const next = list.slice();
  if (i >= 0 && list[i]!.start === c.start) next[i] = c;
  else next.splice(i + 1, 0, c);
  return next.length > HISTORY_LIMIT * 2 ? next.slice(-HISTORY_LIMIT) : next;
}

/** The product page's live part. */
export function ProductChart(props: ProductChartProps): VNode {
  const [granularity, setGranularity] = useState(props.granularity);
  const [candles, setCandles] = useState(props.candles);
  const [loadError, setLoadError] = useState<string>();
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<ChartHandle | undefined>(undefined);

  const load = async (g: string) => {
    try {
      const res = await fetch(
        `/api/candles/${encodeURIComponent(props.product)}/${g}?limit=${HISTORY_LIMIT}`,
      );
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = await res.json() as { candles: ChartCandle[] };
      setLoadError(undefined);
      setCandles(body.candles);
      chart.current?.setAll(body.candles);
    } catch (e) {
      setLoadError(`Could not load ${g} candles: ${e instanceof Error ? e.message : e}`);
    }
  };

  useEffect(() => {
    chart.current = mountChart(box.current!, candles);
    return () => chart.current?.remove();
  }, []);

  const state = useCandleStream([props.product], granularity, (e: CandleEvent) => {
    const c: ChartCandle = {
      start: e.start,
      open: e.open,
      high: e.high,
      low: e.low,
      close: e.close,
      volume: e.volume,
      complete: e.complete,
    };
    setCandles((old) => upsert(old, c));
    chart.current?.update(c);
  }, (reconnected) => {
    if (reconnected) void load(granularity);
  });

  const choose = (g: string) => (e: Event) => {
    e.preventDefault();
    if (g === granularity) return;
    setGranularity(g);
    setCandles([]);
    chart.current?.setAll([]);
    void load(g);
    const url = new URL(location.href);
    url.searchParams.set("g", g);
    history.replaceState(null, "", url);
  };

  const last = candles.at(-1);
  const pct = last ? changePercent(last.open, last.close) : undefined;
  const recent = candles.slice(-RECENT_ROWS).reverse();
  return (
    <div class="product-live">
      <div class="quote">
        <span class="price" data-price>{formatPrice(last?.close)}</span>
        <span class={`change ${changeClass(pct)}`}>{formatChange(pct)}</span>
        <span class={`stream-state ${state}`} role="status" data-stream={state}>
          {state === "live" ? "live" : state === "connecting" ? "connecting…" : "reconnecting…"}
        </span>
      </div>
      <LinkNotice state={state} what="candles" />
      <nav class="granularities" aria-label="Granularity">
        {props.granularities.map((g) => (
          <a
            key={g}
            href={`?g=${g}`}
            aria-current={g === granularity ? "page" : undefined}
            onClick={choose(g)}
          >
            {g}
          </a>
        ))}
      </nav>
      {loadError && <p class="link-notice bad" role="alert">{loadError}</p>}
      <div
        class="chart"
        ref={box}
        data-candles={String(candles.length)}
        aria-label={`${props.product} ${granularity} candlestick chart`}
        role="img"
      />
      <p class="attribution">
        Chart:{" "}
        <a href="https://www.tradingview.com/lightweight-charts/">TradingView Lightweight Charts</a>
      </p>
      <h2 id="recent-heading">Recent {granularity} candles</h2>
      <div class="table-wrap">
        <table class="candles stack" aria-labelledby="recent-heading">
          <thead>
            <tr>
              <th scope="col">Start</th>
              <th scope="col" class="num">Open</th>
              <th scope="col" class="num">High</th>
              <th scope="col" class="num">Low</th>
              <th scope="col" class="num">Close</th>
              <th scope="col" class="num">Volume</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {recent.length === 0 && (
              <tr>
                <td colSpan={7}>No candles yet</td>
              </tr>
            )}
            {recent.map((c) => (
              <tr key={c.start}>
                <th scope="row" data-label="Start">
                  {granularity.endsWith("d")
                    ? formatDateTime(c.start * 1000)
                    : formatTime(c.start * 1000)}
                </th>
                <td data-label="Open" class="num">{formatPrice(c.open)}</td>
                <td data-label="High" class="num">{formatPrice(c.high)}</td>
                <td data-label="Low" class="num">{formatPrice(c.low)}</td>
                <td data-label="Close" class="num">{formatPrice(c.close)}</td>
                <td data-label="Volume" class="num">{formatVolume(c.volume)}</td>
                <td data-label="State">{c.complete ? "complete" : "live"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
