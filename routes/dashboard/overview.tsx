/**
 * @module
 * The overview page (`/`): the service summary and connections (island `overview-status`)
 * and every served product's live candle at the chosen granularity (island `product-table`),
 * filtered and sorted as the query string says (`?q=eth&sort=change&dir=desc`), all rendered
 * with current numbers on the server, so the page works without script and can be linked.
 */
import type { VNode } from "preact";
import type { Candle } from "../../lib/candles/candle.ts";
import { type Granularity, granularityById } from "../../lib/candles/granularity.ts";
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

/** Where the overview's rows come from. */
export interface RowSources {
  products: { productId: string; baseCurrency: string; quoteCurrency: string }[];
  /** The current candle of a product at a granularity (the aggregator's). */
  live(product: string, g: Granularity): Candle | undefined;
  /** Seconds since the product's last trade, when one was seen. */
  lastTradeAgeS(product: string): number | undefined;
  /** The last 1-minute close seen and its age. */
  lastClose(product: string): { close: number; ageS: number } | undefined;
}

/**
 * The table's rows at granularity `g`. A product without a trade in the current interval gets
 * its last known close: the last 1-minute close seen, else today's close (age unknown).
 */
export function overviewRows(sources: RowSources, g: Granularity): ProductRow[] {
  return sources.products.map((p) => {
    const product = p.productId;
    const candle = sources.live(product, g);
    const row: ProductRow = {
      product,
      base: p.baseCurrency,
      quote: p.quoteCurrency,
      candle,
      lastTradeAgeS: sources.lastTradeAgeS(product),
    };
    if (candle === undefined) {
      const day = sources.live(product, ONE_DAY);
      row.lastClose = sources.lastClose(product) ?? (day ? { close: day.close } : undefined);
    }
    return row;
  });
}
