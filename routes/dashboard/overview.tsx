/**
 * @module
 * The overview page (`/`): the service summary and connections (island `overview-status`)
 * and every served product's live candle at the chosen granularity (island `product-table`),
 * all rendered with current numbers on the server.
 */
import type { VNode } from "preact";
import { OverviewStatus, type OverviewStatusProps } from "../../islands/overview_status.tsx";
import { ProductTable, type ProductTableProps } from "../../islands/product_table.tsx";
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
