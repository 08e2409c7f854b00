/**
 * @module
 * The overview page (`/`): the service summary and connections (island `overview-status`)
 * and every served product's live candle at the chosen granularity (island `product-table`),
 * filtered and sorted as the query string says (`?q=eth&sort=change&dir=desc`), all rendered
 * with current numbers on the server, so the page works without script and can be linked.
 */
import type { VNode } from "preact";
import { type Granularity, granularityById } from "../../lib/candles/granularity.ts";
import type { ServiceView } from "../../lib/service/view.ts";
import { OverviewStatus, type OverviewStatusProps } from "../../islands/overview_status.tsx";
import {
  type ProductRow,
  ProductTable,
  type ProductTableProps,
} from "../../islands/product_table.tsx";
import { Island, Page } from "./layout.tsx";

/** Props of {@linkcode OverviewPage}. */
export interface OverviewPageProps {
  status: OverviewStatusProps;
  products: ProductTableProps;
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
      <Island name="product-table" props={props.products}>
        <ProductTable {...props.products} />
      </Island>
    </Page>
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
