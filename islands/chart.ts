/**
 * @module
 * The candlestick chart of the product page, on `lightweight-charts` v5: candles plus a volume
 * histogram in the bottom fifth, sized to its container, colours from the page's CSS. Browser
 * only (it draws on canvases); the island calls it from an effect.
 */
import type { Candle } from "../lib/candles/candle.ts";
import {
  type CandlestickData,
  CandlestickSeries,
  createChart,
  type HistogramData,
  HistogramSeries,
  type UTCTimestamp,
} from "lightweight-charts";

/** The candle fields the chart needs. */
export type ChartBar = Candle;

/** What the island does with a mounted chart. */
export interface ChartHandle {
  /** Replaces every bar (oldest first). */
  setAll(bars: ChartBar[]): void;
  /** Adds or replaces one bar (by start), also an older one (a correction). */
  update(bar: ChartBar): void;
  remove(): void;
}

function cssColor(el: HTMLElement, name: string, fallback: string): string {
  return getComputedStyle(el).getPropertyValue(name).trim() || fallback;
}

/** Creates the chart inside `container` showing `bars`. */
export function mountChart(container: HTMLElement, bars: ChartBar[]): ChartHandle {
  const up = cssColor(container, "--up", "#15803d");
  const down = cssColor(container, "--down", "#b91c1c");
  const text = cssColor(container, "--fg", "#1f2937");
  const grid = cssColor(container, "--grid", "#e5e7eb");
  const chart = createChart(container, {
    autoSize: true,
    layout: {
      background: { color: "transparent" },
      textColor: text,
      // The attribution is a text link under the chart: the logo needs an inline <style>,
      // which the CSP forbids.
      attributionLogo: false,
    },
    grid: { vertLines: { color: grid }, horzLines: { color: grid } },
    timeScale: { timeVisible: true, secondsVisible: false, borderColor: grid },
    rightPriceScale: { borderColor: grid },
  });
  const candles = chart.addSeries(CandlestickSeries, {
    upColor: up,
    downColor: down,
    borderUpColor: up,
    borderDownColor: down,
    wickUpColor: up,
    wickDownColor: down,
  });
  const volume = chart.addSeries(HistogramSeries, {
    priceScaleId: "",
    priceFormat: { type: "volume" },
    lastValueVisible: false,
    priceLineVisible: false,
  });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });

  const candle = (b: ChartBar): CandlestickData<UTCTimestamp> => ({
    time: b.start as UTCTimestamp,
    open: b.open,
    high: b.high,
    low: b.low,
    close: b.close,
  });
  const bar = (b: ChartBar): HistogramData<UTCTimestamp> => ({
    time: b.start as UTCTimestamp,
    value: b.volume,
    color: b.close >= b.open ? `${up}80` : `${down}80`,
  });
  let lastStart = -Infinity;
  /** The bars shown, by start: lightweight-charts can only update an older bar it already has. */
  let shown = new Map<number, ChartBar>();
  const draw = (all: ChartBar[]) => {
    candles.setData(all.map(candle));
    volume.setData(all.map(bar));
    shown = new Map(all.map((b) => [b.start, b]));
    lastStart = all.at(-1)?.start ?? -Infinity;
  };

  const handle: ChartHandle = {
    setAll(all) {
      draw(all);
      chart.timeScale().fitContent();
    },
    update(b) {
      if (b.start < lastStart && !shown.has(b.start)) {
        // A correction for a bucket the chart has no bar for (no trades when it loaded): insert
        // it in time order by redrawing, which the library's update() cannot do.
        shown.set(b.start, b);
        draw([...shown.values()].sort((x, y) => x.start - y.start));
        return;
      }
      const historical = b.start < lastStart;
      candles.update(candle(b), historical);
      volume.update(bar(b), historical);
      shown.set(b.start, b);
      lastStart = Math.max(lastStart, b.start);
    },
    remove() {
      chart.remove();
    },
  };
  handle.setAll(bars);
  return handle;
}
