/**
 * @module
 * The overview page (`/`): the service summary and connections (island `overview-status`)
 * and every served product's live candle at the chosen granularity (island `product-table`),
 * filtered and sorted as the query string says (`?q=eth&sort=change&dir=desc`), all rendered
 * with current numbers on the server, so the page works without script and can be linked.
 */
import type { VNode } from "preact";
import { GRANULARITIES, type Granularity, granularityById } from "../../lib/candles/granularity.ts";
import { formatUsd } from "../../islands/format.ts";
import type { ServiceView } from "../../lib/service/view.ts";
import { OverviewStatus, type OverviewStatusProps } from "../../islands/overview_status.tsx";
import {
  type ProductRow,
  ProductTable,
  type ProductTableProps,
} from "../../islands/product_table.tsx";
import { Island, Page } from "./layout.tsx";

/**
 * The write settings the overview shows under the service summary: the flush interval of each
 * granularity (`FLUSH_INTERVAL_MS`) and what they allow at most per day (the writer's
 * `flushIntervalsMs` and `costCeilingPerDayUsd`, present in `/api/status`'s `store` once the
 * service passes them on).
 */
export interface WriteSettings {
  flushIntervalsMs: Record<string, number>;
  costCeilingPerDayUsd?: number;
  /** Products with live documents (the ceiling's). */
  liveProducts?: number;
}

/** The write settings in a status body's `store`, if it carries them. */
export function writeSettings(store: object): WriteSettings | undefined {
  const s = store as Partial<WriteSettings>;
  return s.flushIntervalsMs ? s as WriteSettings : undefined;
}

/** Props of {@linkcode OverviewPage}. */
export interface OverviewPageProps {
  status: OverviewStatusProps;
  products: ProductTableProps;
  writes?: WriteSettings;
  logout: boolean;
  notice?: string;
}

/** The overview page. */
export function OverviewPage(props: OverviewPageProps): VNode {
  const { index, count } = props.status.initial.shard;
  return (
    <Page title="Overview" logout={props.logout} notice={props.notice}>
      <h1>
        Overview <small>{count > 1 ? `shard ${index + 1} of ${count}` : "single shard"}</small>
      </h1>
      <Island name="overview-status" props={props.status}>
        <OverviewStatus {...props.status} />
      </Island>
      {props.writes && <WriteIntervals {...props.writes} />}
      <Island name="product-table" props={props.products}>
        <ProductTable {...props.products} />
      </Island>
    </Page>
  );
}

/**
 * `FLUSH_INTERVAL_MS` as configured, granularities with the same interval together (`1m 1 s ·
 * 5m–1d 5 s`), and the daily cost those intervals allow at most.
 */
function WriteIntervals(w: WriteSettings): VNode {
  const groups: { names: string[]; ms: number }[] = [];
  for (const g of GRANULARITIES) {
    const ms = w.flushIntervalsMs[g.id];
    if (ms === undefined) continue;
    const last = groups.at(-1);
    if (last?.ms === ms) last.names.push(g.short);
    else groups.push({ names: [g.short], ms });
  }
  const seconds = (ms: number) => ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
  const label = (names: string[]) =>
    names.length > 2 ? `${names[0]}–${names.at(-1)}` : names.join(", ");
  return (
    <section aria-labelledby="writes-heading">
      <h2 id="writes-heading">Store writes</h2>
      <dl class="summary">
        <div>
          <dt>Live flush interval (FLUSH_INTERVAL_MS)</dt>
          <dd data-flush-intervals>
            {groups.map((g) => `${label(g.names)} ${seconds(g.ms)}`).join(" · ")}
          </dd>
        </div>
        {w.costCeilingPerDayUsd !== undefined && (
          <div>
            <dt>Most Firestore cost per day at these intervals</dt>
            <dd data-cost-ceiling>
              {formatUsd(w.costCeilingPerDayUsd)}
              <small class="note">
                {`${w.liveProducts ?? 0} products, every live document changing every interval`}
              </small>
            </dd>
          </div>
        )}
      </dl>
    </section>
  );
}

const ONE_DAY = granularityById("ONE_DAY");

/** What the overview's rows are made of (the service view's). */
export type RowSources = Pick<
  ServiceView,
  "products" | "liveCandle" | "lastTradeAgeS" | "lastTradePrice"
>;

/**
 * The table's rows at granularity `g`. A product without a trade in the current interval gets
 * its last known price: its last trade seen, with its age, else today's close (age unknown).
 */
export function overviewRows(view: RowSources, g: Granularity): ProductRow[] {
  return view.products().map((p) => {
    const product = p.productId;
    const candle = view.liveCandle(product, g);
    const lastTradeAgeS = view.lastTradeAgeS(product);
    const row: ProductRow = {
      product,
      base: p.baseCurrency,
      quote: p.quoteCurrency,
      candle,
      lastTradeAgeS,
    };
    if (candle === undefined) {
      const price = view.lastTradePrice(product);
      const day = view.liveCandle(product, ONE_DAY);
      row.lastClose = price !== undefined
        ? { close: price, ageS: lastTradeAgeS }
        : day
        ? { close: day.close }
        : undefined;
    }
    return row;
  });
}
