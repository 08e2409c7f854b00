/**
 * @module
 * Island: every served product's live candle at a chosen granularity (open, high, low, close,
 * volume, change since open) and the age of its last trade, kept live by `/api/stream`, with a
 * filter box (part of a product id, base or quote) and sortable columns. The server renders the
 * same filtered, sorted rows from the query string (`?q=eth&sort=change&dir=desc`), so the view
 * works without script and can be linked; with script the filter applies as one types.
 *
 * Built for 1,000 products: row states live in a map and are replaced one product at a time,
 * events are applied in one batch per animation frame, and rows are memoised components keyed
 * by product, so an update re-renders the rows that changed, not the table. A product without a
 * trade in the current interval shows its last known close and its age, not a dash.
 */
import { Component, type VNode } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
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
import { GRANULARITIES } from "../lib/candles/granularity.ts";
import { EXCHANGE_IDS, exchangeOf, productOf, productPagePath } from "../lib/exchange/market.ts";
import { type CandleEvent, useCandleStream, useTicker } from "./stream.ts";
import {
  applyQuery,
  defaultDir,
  type QueryRow,
  type SortKey,
  type TableQuery,
  tableSearch,
} from "./product_query.ts";

/** A live candle as the table shows it. */
export type LiveCandle = Candle;

/** One product row as the server sends it. */
export interface ProductRow {
  product: string;
  base: string;
  quote: string;
  /** The candle of the current interval, if it has traded (or been seeded). */
  candle?: LiveCandle;
  /** Seconds since the last trade when the page was rendered, if one was seen. */
  lastTradeAgeS?: number;
  /**
   * The last close known and its age in seconds, when known (for products quiet in this
   * interval).
   */
  lastClose?: { close: number; ageS?: number };
}

/** Props of {@linkcode ProductTable}. */
export interface ProductTableProps {
  rows: ProductRow[];
  /** Selected granularity, short name (`1m`). */
  granularity: string;
  /** Every granularity's short name, finest first. */
  granularities: string[];
  /** Filter and sort, from the query string. */
  query: TableQuery;
}

/** What the table knows of one product. Replaced (never mutated) when it changes. */
export interface RowState {
  product: string;
  base: string;
  quote: string;
  candle?: LiveCandle;
  /** `Date.now()` of the last trade seen, if any. */
  lastTradeAt?: number;
  /** The last close known (the live close, or the one before the current interval). */
  lastClose?: number;
  /** `Date.now()` when that close was made (or its minute began). */
  lastCloseAt?: number;
  /**
   * While no candle is shown: the start (epoch s) of the interval known to be quiet so far; an
   * event for it or a later one means a trade. Undefined: the next event is the current candle.
   */
  quietFrom?: number;
}

/** Start (epoch s) of the current interval of granularity `short` (`1m` …) at `nowMs`. */
export function intervalStart(short: string, nowMs: number): number | undefined {
  const seconds = GRANULARITIES.find((g) => g.short === short)?.seconds;
  return seconds === undefined ? undefined : Math.floor(nowMs / 1000 / seconds) * seconds;
}

/** Row states from the server's rows at `granularity`, ages turned into times at `now`. */
export function initialRows(
  rows: ProductRow[],
  granularity: string,
  now: number,
): Map<string, RowState> {
  const quietFrom = intervalStart(granularity, now);
  return new Map(rows.map((r) => [r.product, {
    product: r.product,
    base: r.base,
    quote: r.quote,
    candle: r.candle,
    quietFrom: r.candle ? undefined : quietFrom,
    lastTradeAt: r.lastTradeAgeS === undefined ? undefined : now - r.lastTradeAgeS * 1000,
    lastClose: r.candle?.close ?? r.lastClose?.close,
    lastCloseAt: r.lastTradeAgeS !== undefined
      ? now - r.lastTradeAgeS * 1000
      : r.lastClose?.ageS === undefined
      ? undefined
      : now - r.lastClose.ageS * 1000,
  }]));
}

/** A row state after a candle event at `now` (the same object when nothing changed). */
export function applyEvent(prev: RowState, e: CandleEvent, now: number): RowState {
  const shown = prev.candle;
  if (e.complete) {
    // The interval shown has ended: keep its close as the last known price, drop the candle
    // (the next one comes with the next trade). Corrections of older intervals change nothing.
    if (shown === undefined || shown.start !== e.start) return prev;
    return { ...prev, candle: undefined, lastClose: e.close, quietFrom: e.start + 1 };
  }
  if (shown ? e.start < shown.start : prev.quietFrom !== undefined && e.start < prev.quietFrom) {
    return prev;
  }
  const candle = {
    start: e.start,
    open: e.open,
    high: e.high,
    low: e.low,
    close: e.close,
    volume: e.volume,
  };
  // A new interval opening or volume growing only happens on a trade; the first event of a
  // subscription (the current candle) is not one.
  const traded = shown !== undefined
    ? shown.start !== e.start || shown.volume !== e.volume
    : prev.quietFrom !== undefined;
  return {
    ...prev,
    candle,
    quietFrom: undefined,
    lastClose: e.close,
    lastTradeAt: traded ? now : prev.lastTradeAt,
    lastCloseAt: traded ? now : prev.lastCloseAt ?? e.start * 1000,
  };
}

/** The filter and sort view of a row state at `now`. */
export function queryRow(r: RowState, now: number): RowState & QueryRow {
  const c = r.candle;
  const at = r.lastTradeAt ?? r.lastCloseAt;
  return {
    ...r,
    close: c?.close ?? r.lastClose,
    change: c ? changePercent(c.open, c.close) : undefined,
    volume: c?.volume,
    tradeAgeS: at === undefined ? undefined : Math.max(0, (now - at) / 1000),
  };
}

/** The live products table with its filter, sort links and granularity switcher. */
export function ProductTable(props: ProductTableProps): VNode {
  const [granularity, setGranularity] = useState(props.granularity);
  const [query, setQuery] = useState(props.query);
  const rows = useRef<Map<string, RowState>>(undefined as unknown as Map<string, RowState>);
  rows.current ??= initialRows(props.rows, props.granularity, Date.now());
  const [, setVersion] = useState(0);
  const pending = useRef<CandleEvent[]>([]);
  const frame = useRef<number | undefined>(undefined);
  const now = useTicker(1000);
  const products = props.rows.map((r) => r.product);

  const flush = () => {
    frame.current = undefined;
    const at = Date.now();
    let changed = false;
    for (const e of pending.current.splice(0)) {
      const prev = rows.current.get(e.product_id);
      if (!prev) continue;
      const next = applyEvent(prev, e, at);
      if (next !== prev) {
        rows.current.set(e.product_id, next);
        changed = true;
      }
    }
    if (changed) setVersion((v) => v + 1);
  };
  useEffect(() => () => cancelAnimationFrame(frame.current ?? 0), []);

  const state = useCandleStream(products, granularity, (e: CandleEvent) => {
    pending.current.push(e);
    frame.current ??= requestAnimationFrame(flush);
  });

  const choose = (g: string) => {
    if (g === granularity) return;
    setGranularity(g);
    // Keep last-trade times and prices, forget candles of the other granularity; the next
    // events are the new granularity's current candles.
    for (const [p, r] of rows.current) {
      rows.current.set(p, { ...r, candle: undefined, quietFrom: undefined });
    }
    setVersion((v) => v + 1);
    replaceUrl(query, g);
  };
  const view = (next: TableQuery) => {
    setQuery(next);
    replaceUrl(next, granularity);
  };

  const shown = applyQuery([...rows.current.values()].map((r) => queryRow(r, now)), query);
  // The exchange column and filter appear once the products span more than one exchange.
  const exchanges = EXCHANGE_IDS.filter((x) => props.rows.some((r) => exchangeOf(r.product) === x));
  const several = exchanges.length > 1;
  const g: Record<string, string> = granularity === props.granularities[0]
    ? {}
    : { g: granularity };
  const header = (key: SortKey, label: string, cls = "") => {
    const active = query.sort === key;
    const dir = active ? (query.dir === "asc" ? "desc" : "asc") : defaultDir(key);
    const next = { ...query, sort: key, dir };
    return (
      <th
        scope="col"
        class={cls}
        aria-sort={active ? (query.dir === "asc" ? "ascending" : "descending") : undefined}
      >
        <a
          href={`/${tableSearch(next, g)}`}
          data-sort={key}
          onClick={(e) => {
            e.preventDefault();
            view(next);
          }}
        >
          {label}
          {active ? (query.dir === "asc" ? " ▲" : " ▼") : ""}
        </a>
      </th>
    );
  };
  const plain = (label: string, cls: string) => <th scope="col" class={cls}>{label}</th>;

  return (
    <section aria-labelledby="products-heading">
      <div class="section-head">
        <h2 id="products-heading">Products</h2>
        <form
          method="get"
          action="/"
          class="filter"
          role="search"
          onSubmit={(e) => e.preventDefault()}
        >
          <label for="product-filter">Find</label>
          <input
            id="product-filter"
            type="search"
            name="q"
            value={query.q}
            placeholder="id, base or quote"
            autocomplete="off"
            spellcheck={false}
            onInput={(e) => view({ ...query, q: (e.target as HTMLInputElement).value.trim() })}
          />
          {granularity !== props.granularities[0] && (
            <input type="hidden" name="g" value={granularity} />
          )}
          {query.sort !== "product" && <input type="hidden" name="sort" value={query.sort} />}
          {query.sort !== "product" && <input type="hidden" name="dir" value={query.dir} />}
          {several && (
            <>
              <label for="exchange-filter">Exchange</label>
              <select
                id="exchange-filter"
                name="exchange"
                value={query.exchange ?? ""}
                onChange={(e) => {
                  const exchange = (e.target as HTMLSelectElement).value;
                  view(exchange ? { ...query, exchange } : { ...query, exchange: undefined });
                }}
              >
                <option value="">all</option>
                {exchanges.map((x) => <option key={x} value={x}>{x}</option>)}
              </select>
            </>
          )}
          <noscript>
            <button type="submit">Filter</button>
          </noscript>
        </form>
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
          {query.q && <input type="hidden" name="q" value={query.q} />}
          <noscript>
            <button type="submit">Show</button>
          </noscript>
        </form>
        <span class={`stream-state ${state}`} role="status" data-stream={state}>
          {state === "live" ? "live" : state === "connecting" ? "connecting…" : "reconnecting…"}
        </span>
      </div>
      <p class="table-count" role="status" data-count={shown.length}>
        {query.q || query.exchange
          ? `${shown.length} of ${rows.current.size} products match${
            query.q ? ` “${query.q}”` : ""
          }${query.exchange ? ` on ${query.exchange}` : ""}`
          : `${rows.current.size} products`}
      </p>
      <LinkNotice state={state} what="prices" />
      <div class="table-wrap">
        <table class="products" aria-labelledby="products-heading">
          <thead>
            <tr>
              {header("product", "Product")}
              {several && plain("Exchange", "")}
              {plain("Open", "num wide")}
              {plain("High", "num wide")}
              {plain("Low", "num wide")}
              {header("close", "Close", "num")}
              {header("change", "Change", "num")}
              {header("volume", "Volume", "num wide")}
              {header("trade", "Last trade", "num")}
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <Row
                key={r.product}
                row={rows.current.get(r.product)!}
                age={formatAge(r)}
                exchange={several}
              />
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function formatAge(r: QueryRow): string {
  return formatDuration(r.tradeAgeS);
}

function replaceUrl(query: TableQuery, granularity: string): void {
  const url = new URL(location.href);
  for (const k of ["q", "sort", "dir", "exchange"]) url.searchParams.delete(k);
  const search = new URLSearchParams(tableSearch(query));
  for (const [k, v] of search) url.searchParams.set(k, v);
  url.searchParams.set("g", granularity);
  history.replaceState(null, "", url);
}

interface RowProps {
  row: RowState;
  age: string;
  /** Whether the exchange column is shown. */
  exchange?: boolean;
}

/**
 * One product's row; re-renders only when its state or its age text changes (what
 * `preact/compat`'s `memo` does, without loading compat, which changes how every page renders).
 */
class Row extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    return next.row !== this.props.row || next.age !== this.props.age ||
      next.exchange !== this.props.exchange;
  }

  override render(): VNode {
    return rowView(this.props);
  }
}

function rowView({ row, age, exchange }: RowProps): VNode {
  const c = row.candle;
  const pct = c ? changePercent(c.open, c.close) : undefined;
  const close = c?.close ?? row.lastClose;
  return (
    <tr data-product={row.product}>
      <th scope="row" data-label="Product">
        <a href={productPagePath(row.product)}>{productOf(row.product)}</a>
      </th>
      {exchange && <td data-label="Exchange" class="exchange">{exchangeOf(row.product)}</td>}
      <td data-label="Open" class="num wide">{formatPrice(c?.open)}</td>
      <td data-label="High" class="num wide">{formatPrice(c?.high)}</td>
      <td data-label="Low" class="num wide">{formatPrice(c?.low)}</td>
      <td
        data-label="Close"
        class={`num close${c ? "" : " stale"}`}
        title={c || close === undefined ? undefined : "Last close: no trade in this interval yet"}
      >
        {formatPrice(close)}
      </td>
      <td data-label="Change" class={`num change ${changeClass(pct)}`}>{formatChange(pct)}</td>
      <td data-label="Volume" class="num wide">{formatVolume(c?.volume)}</td>
      <td data-label="Last trade" class="num">{age}</td>
    </tr>
  );
}
