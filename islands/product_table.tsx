/**
 * @module
 * Island: every served product's live candle at a chosen granularity (open, high, low, close,
 * volume, change since open) and the age of its last trade, kept live by `/api/stream`.
 * Without script the granularity form reloads the page; with it the island switches in place.
 */
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import {
  changeClass,
  changePercent,
  formatChange,
  formatDuration,
  formatPrice,
  formatVolume,
} from "./format.ts";
import { LinkNotice } from "./overview_status.tsx";
import type { Candle } from "../lib/candles/candle.ts";
import { type CandleEvent, useCandleStream, useTicker } from "./stream.ts";

/** A live candle as the table shows it. */
export type LiveCandle = Candle;

/** One product row. */
export interface ProductRow {
  product: string;
  candle?: LiveCandle;
  /** Seconds since the last trade when the page was rendered, if one was seen. */
  lastTradeAgeS?: number;
}

/** Props of {@linkcode ProductTable}. */
export interface ProductTableProps {
  rows: ProductRow[];
  /** Selected granularity, short name (`1m`). */
  granularity: string;
  /** Every granularity's short name, finest first. */
  granularities: string[];
}

interface RowState {
  candle?: LiveCandle;
  /** `Date.now()` of the last trade seen, if any. */
  lastTradeAt?: number;
}

function initialRows(rows: ProductRow[]): Record<string, RowState> {
  const now = Date.now();
  return Object.fromEntries(rows.map((r) => [r.product, {
    candle: r.candle,
    lastTradeAt: r.lastTradeAgeS === undefined ? undefined : now - r.lastTradeAgeS * 1000,
  }]));
}

/** The live products table with its granularity switcher. */
export function ProductTable(props: ProductTableProps): VNode {
  const products = props.rows.map((r) => r.product);
  const [granularity, setGranularity] = useState(props.granularity);
  const [rows, setRows] = useState(() => initialRows(props.rows));
  const now = useTicker(1000);

  const state = useCandleStream(products, granularity, (e: CandleEvent) => {
    if (e.complete) return; // the next live candle follows
    setRows((old) => {
      const prev = old[e.product_id];
      const candle = {
        start: e.start,
        open: e.open,
        high: e.high,
        low: e.low,
        close: e.close,
        volume: e.volume,
      };
      const traded = prev?.candle !== undefined &&
        (prev.candle.start !== e.start || prev.candle.volume !== e.volume);
      return {
        ...old,
        [e.product_id]: { candle, lastTradeAt: traded ? Date.now() : prev?.lastTradeAt },
      };
    });
  });

  const choose = (g: string) => {
    if (g === granularity) return;
    setGranularity(g);
    // Keep last-trade times, forget candles of the other granularity.
    setRows((old) =>
      Object.fromEntries(
        Object.entries(old).map(([p, r]) => [p, { lastTradeAt: r.lastTradeAt }]),
      )
    );
    const url = new URL(location.href);
    url.searchParams.set("g", g);
    history.replaceState(null, "", url);
  };

  return (
    <section aria-labelledby="products-heading">
      <div class="section-head">
        <h2 id="products-heading">Products</h2>
        <form
          method="get"
          action="/"
          class="granularity"
          onSubmit={(e) => e.preventDefault()}
        >
          <label for="granularity">Candle</label>
          <select
            id="granularity"
            name="g"
            value={granularity}
            onChange={(e) => choose((e.target as HTMLSelectElement).value)}
          >
            {props.granularities.map((g) => <option key={g} value={g}>{g}</option>)}
          </select>
          <noscript>
            <button type="submit">Show</button>
          </noscript>
        </form>
        <span class={`stream-state ${state}`} role="status" data-stream={state}>
          {state === "live" ? "live" : state === "connecting" ? "connecting…" : "reconnecting…"}
        </span>
      </div>
      <LinkNotice state={state} what="prices" />
      <div class="table-wrap">
        <table class="products" aria-labelledby="products-heading">
          <thead>
            <tr>
              <th scope="col">Product</th>
              <th scope="col" class="num wide">Open</th>
              <th scope="col" class="num wide">High</th>
              <th scope="col" class="num wide">Low</th>
              <th scope="col" class="num">Close</th>
              <th scope="col" class="num">Change</th>
              <th scope="col" class="num wide">Volume</th>
              <th scope="col" class="num">Last trade</th>
            </tr>
          </thead>
          <tbody>
            {products.map((p) => <Row key={p} product={p} row={rows[p] ?? {}} now={now} />)}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Row({ product, row, now }: { product: string; row: RowState; now: number }): VNode {
  const c = row.candle;
  const pct = c ? changePercent(c.open, c.close) : undefined;
  const age = row.lastTradeAt === undefined ? undefined : (now - row.lastTradeAt) / 1000;
  return (
    <tr data-product={product}>
      <th scope="row" data-label="Product">
        <a href={`/products/${product}`}>{product}</a>
      </th>
      <td data-label="Open" class="num wide">{formatPrice(c?.open)}</td>
      <td data-label="High" class="num wide">{formatPrice(c?.high)}</td>
      <td data-label="Low" class="num wide">{formatPrice(c?.low)}</td>
      <td data-label="Close" class="num close">{formatPrice(c?.close)}</td>
      <td data-label="Change" class={`num change ${changeClass(pct)}`}>{formatChange(pct)}</td>
      <td data-label="Volume" class="num wide">{formatVolume(c?.volume)}</td>
      <td data-label="Last trade" class="num">{formatDuration(age)}</td>
    </tr>
  );
}
