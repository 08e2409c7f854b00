/**
 * @module
 * Entry of the island bundle (`deno task build` → `static/build/islands.js`): hydrates every
 * `<div data-island=name>` the server rendered, with the props from the
 * `<script type="application/json" data-island-props=name>` that follows it.
 */
import { type FunctionComponent, h, hydrate } from "preact";
import { FleetView } from "./fleet_view.tsx";
import { OverviewStatus } from "./overview_status.tsx";
import { ProductChart } from "./product_chart.tsx";
import { ProductTable } from "./product_table.tsx";

// deno-lint-ignore no-explicit-any
const ISLANDS: Record<string, FunctionComponent<any>> = {
  "overview-status": OverviewStatus,
  "product-table": ProductTable,
  "product-chart": ProductChart,
  "fleet-view": FleetView,
};

for (const el of document.querySelectorAll<HTMLElement>("[data-island]")) {
  const name = el.dataset.island!;
  const component = ISLANDS[name];
  const data = el.nextElementSibling;
  if (!component || !(data instanceof HTMLScriptElement) || data.dataset.islandProps !== name) {
    throw new Error(`Cannot hydrate island "${name}": unknown island or missing props`);
  }
  hydrate(h(component, JSON.parse(data.textContent ?? "{}")), el);
}
