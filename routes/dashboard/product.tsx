/**
 * @module
 * The product page (`/products/:id`): the live candle chart (island `product-chart`) and the
 * product's gap and repair history, rendered on the server from the repairer's records; and
 * the 404 page for a product this shard does not serve.
 */
import { productPagePath } from "../../lib/exchange/market.ts";
import type { VNode } from "preact";
import { ProductChart, type ProductChartProps } from "../../islands/product_chart.tsx";
import { formatDateTime, formatDuration, formatTime } from "../../islands/format.ts";
import type { FillProgress, Product, RepairRecord } from "../../lib/service/view.ts";
import { exchangeOf, productOf } from "../../lib/exchange/market.ts";
import { Island, Page } from "./layout.tsx";

/** Props of {@linkcode ProductPage}. */
export interface ProductPageProps {
  product: Product;
  chart: ProductChartProps;
  repairs: RepairRecord[];
  /** The history filler's progress with the product (absent: off or not reached yet). */
  history?: FillProgress;
  /** `HISTORY_DAYS`. */
  historyDays?: number;
  /** What is wrong with the product (seeding failed for good …), if anything. */
  problem?: string;
  logout: boolean;
  notice?: string;
  /** Epoch ms, for "ago" columns. */
  nowMs: number;
}

/** The product page. */
export function ProductPage(props: ProductPageProps): VNode {
  const p = props.product;
  const id = productOf(p.productId);
  const exchange = exchangeOf(p.productId);
  const name = p.displayName && p.displayName !== id ? p.displayName : "";
  return (
    <Page title={`${id} · ${exchange}`} logout={props.logout} notice={props.notice}>
      <h1>
        {id} {name && <small>{name}</small>} <small class="exchange">{exchange}</small>
      </h1>
      <p class="meta">
        {`${p.baseCurrency} / ${p.quoteCurrency}`}
        {p.status && ` · ${p.status}`}
        {p.quoteIncrement && ` · price step ${p.quoteIncrement}`}
        {p.baseMinSize && ` · min size ${p.baseMinSize}`}
      </p>
      {props.problem && <p class="problem bad" role="alert">{props.problem}</p>}
      <Island name="product-chart" props={props.chart}>
        <ProductChart {...props.chart} />
      </Island>
      <RepairHistory records={props.repairs} nowMs={props.nowMs} />
      <HistoryFill progress={props.history} days={props.historyDays ?? 0} />
    </Page>
  );
}

function HistoryFill({ progress, days }: { progress?: FillProgress; days: number }): VNode {
  const p = progress;
  return (
    <section aria-labelledby="history-heading">
      <h2 id="history-heading">History</h2>
      {days === 0 ? <p>The history filler is off (HISTORY_DAYS=0).</p> : !p
        ? (
          <p>
            {`The history filler has not reached this product yet (it completes ${days} days).`}
          </p>
        )
        : (
          <>
            <p data-fill-state={p.state}>
              {p.completeBackToSec === null
                ? `Checking the last ${days} days: ${Math.round(p.checkedShare * 100)} % done`
                : `Complete back to ${formatDateTime(p.completeBackToSec * 1000)}`}
              {` · ${p.state} · ${p.candlesWritten} candles filled in ${p.requests} requests`}
              {p.fillingNow &&
                ` · filling ${p.fillingNow.granularity} from ${
                  formatDateTime(p.fillingNow.fromSec * 1000)
                }`}
            </p>
            {p.lastError && <p class="problem warn">{p.lastError}</p>}
            {p.holes.length === 0
              ? <p>No holes left.</p>
              : (
                <table class="holes stack" aria-labelledby="history-heading">
                  <thead>
                    <tr>
                      <th scope="col">Granularity</th>
                      <th scope="col">From</th>
                      <th scope="col">To</th>
                      <th scope="col">Why it stays</th>
                    </tr>
                  </thead>
                  <tbody>
                    {p.holes.map((h) => (
                      <tr key={`${h.granularity}${h.fromSec}`}>
                        <td data-label="Granularity">{h.granularity}</td>
                        <td data-label="From">{formatDateTime(h.fromSec * 1000)}</td>
                        <td data-label="To">{formatDateTime(h.toSec * 1000)}</td>
                        <td data-label="Why it stays">{HOLE_REASONS[h.reason]}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
          </>
        )}
    </section>
  );
}

const HOLE_REASONS: Record<FillProgress["holes"][number]["reason"], string> = {
  no_trades: "no trades on the exchange (too new, or never traded)",
  rest_empty: "REST has the day but no candles inside it",
  rest_refused: "REST refused it (retried by the next process)",
};

function repairState(r: RepairRecord): { label: string; cls: string } {
  // The subscription snapshot held every trade of the window: nothing to fetch.
  if (r.replayed) return { label: "replayed", cls: "ok" };
  if (r.repairedAt !== undefined) return { label: "repaired", cls: "ok" };
  // A final error (or too many failures) gives the window up; until then a failure is retried.
  if (r.gaveUpAt !== undefined) return { label: "gave up", cls: "bad" };
  if (r.error) return { label: "retrying", cls: "warn" };
  return { label: "pending", cls: "warn" };
}

function RepairHistory({ records, nowMs }: { records: RepairRecord[]; nowMs: number }): VNode {
  const newest = records.slice().reverse();
  return (
    <section aria-labelledby="repairs-heading">
      <h2 id="repairs-heading">Gaps and repairs</h2>
      {newest.length === 0
        ? <p>No gap detected since the service started.</p>
        : (
          <div class="table-wrap">
            <table class="repairs stack" aria-labelledby="repairs-heading">
              <thead>
                <tr>
                  <th scope="col">Detected</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Window</th>
                  <th scope="col">State</th>
                  <th scope="col" class="num">Minutes replaced</th>
                  <th scope="col" class="num">Attempts</th>
                </tr>
              </thead>
              <tbody>
                {newest.map((r) => {
                  const s = repairState(r);
                  return (
                    <tr key={`${r.detectedAt}-${r.fromSec}`} data-reason={r.reason}>
                      <th scope="row" data-label="Detected">
                        {formatTime(r.detectedAt)}{" "}
                        <small>{`${formatDuration((nowMs - r.detectedAt) / 1000)} ago`}</small>
                      </th>
                      <td data-label="Reason">{r.reason}</td>
                      <td data-label="Window">
                        {`${formatDateTime(r.fromSec * 1000)} – ${formatTime(r.toSec * 1000)}`}
                      </td>
                      <td data-label="State">
                        <span class={`badge ${s.cls}`}>{s.label}</span>
                        {r.error && <small class="note">{r.error}</small>}
                      </td>
                      <td data-label="Minutes replaced" class="num">
                        {r.minutesReplaced === undefined ? "—" : String(r.minutesReplaced)}
                      </td>
                      <td data-label="Attempts" class="num">{String(r.attempts)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
    </section>
  );
}

/** Props of {@linkcode NotFoundPage}. */
export interface NotFoundPageProps {
  what: string;
  served: string[];
  logout: boolean;
}

/** 404 page for an unknown product (or page). */
export function NotFoundPage(props: NotFoundPageProps): VNode {
  return (
    <Page title="Not found" logout={props.logout} islands={false}>
      <h1>Not found</h1>
      <p role="alert">{props.what}</p>
      {props.served.length > 0 && (
        <>
          <p>This shard serves:</p>
          <ul class="served">
            {props.served.map((p) => (
              <li key={p}>
                <a href={productPagePath(p)}>{p}</a>
              </li>
            ))}
          </ul>
        </>
      )}
    </Page>
  );
}
