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
import type { Product, RepairRecord } from "../../lib/service/view.ts";
import { Island, Page } from "./layout.tsx";

/** Props of {@linkcode ProductPage}. */
export interface ProductPageProps {
  product: Product;
  chart: ProductChartProps;
  repairs: RepairRecord[];
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
  const name = p.displayName && p.displayName !== p.productId ? p.displayName : "";
  return (
    <Page title={p.productId} logout={props.logout} notice={props.notice}>
      <h1>
        {p.productId} {name && <small>{name}</small>}
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
    </Page>
  );
}

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
