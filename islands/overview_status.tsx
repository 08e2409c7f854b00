/**
 * @module
 * Island: the overview's service summary and connections table. Server-rendered with the
 * current `/api/status`, then refreshed from it every two seconds; when the server cannot be
 * reached (a restart, a network drop) it says so and keeps trying.
 */
import { productPagePath } from "../lib/exchange/market.ts";
import type { ComponentChildren, VNode } from "preact";
import type { ConnectionStatus, ProductProblem, StatusBody } from "../lib/service/view.ts";
import { formatDuration, formatNumber, formatTime, formatUsd } from "./format.ts";
import { type LinkState, usePoll, useTicker } from "./stream.ts";

/** Props of {@linkcode OverviewStatus}. */
export interface OverviewStatusProps {
  initial: StatusBody;
  /** @default 2000 */
  pollMs?: number;
}

/** The live service summary and connections table. */
export function OverviewStatus({ initial, pollMs = 2000 }: OverviewStatusProps): VNode {
  const { data: s, state, updatedAt } = usePoll<StatusBody>("/api/status", pollMs, initial);
  const now = useTicker(1000);
  return (
    <section aria-labelledby="service-heading">
      <h2 id="service-heading">Service</h2>
      <LinkNotice state={state} since={updatedAt} now={now} what="status" />
      <dl class="summary">
        <Item label="Status">
          <span class={`badge status-${s.status}`}>{s.status}</span>
          {s.startup && <small class="note">{s.startup}</small>}
        </Item>
        <Item label="Shard">{`${s.shard.index + 1} of ${s.shard.count}`}</Item>
        <Item label="Products served">{String(s.products)}</Item>
        <Item label="Uptime">{formatDuration(s.uptimeS)}</Item>
        <Item label="Store">
          {s.store.kind}
          {s.store.layout && ` (${s.store.layout})`}{" "}
          <span class={`badge ${s.store.ok ? "ok" : "bad"}`}>
            {s.store.ok ? "healthy" : "failing"}
          </span>
          {s.store.lastError && !s.store.ok && <small class="note">{s.store.lastError}</small>}
        </Item>
        <Item label="Pending writes">{String(s.store.pendingWrites)}</Item>
        <Item label="Writes per second">{formatNumber(s.store.writesPerS, 1)}</Item>
        <Item label="Projected Firestore cost per day">
          {formatUsd(s.store.projectedCostPerDayUsd)}
        </Item>
      </dl>
      <Problems problems={s.problems ?? []} />
      <h2 id="connections-heading">Exchange connections</h2>
      <div class="table-wrap">
        <table class="connections stack" aria-labelledby="connections-heading">
          <thead>
            <tr>
              <th scope="col">Connection</th>
              <th scope="col">State</th>
              <th scope="col">Products</th>
              <th scope="col">Connected since</th>
              <th scope="col" class="num">Reconnects</th>
              <th scope="col" class="num">Last message</th>
              <th scope="col" class="num">Largest gap</th>
              <th scope="col" class="num">Sequence gaps</th>
              <th scope="col" class="num">Trades/s</th>
            </tr>
          </thead>
          <tbody>
            {s.connections.length === 0 && (
              <tr>
                <td colSpan={9}>No connection yet ({s.startup || "starting"})</td>
              </tr>
            )}
            {s.connections.map((c) => <ConnectionRow key={c.id} c={c} />)}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Problems({ problems }: { problems: ProductProblem[] }): VNode | null {
  if (problems.length === 0) return null;
  return (
    <section aria-labelledby="problems-heading" class="problems">
      <h2 id="problems-heading">Products with problems</h2>
      <ul>
        {problems.map((p) => (
          <li key={p.product} data-problem={p.product}>
            <a href={productPagePath(p.product)}>{p.product}</a>
            {`: ${p.message}`}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Item(props: { label: string; children: ComponentChildren }): VNode {
  return (
    <div>
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}

const STATE_CLASS: Record<string, string> = {
  subscribed: "ok",
  connecting: "warn",
  reconnecting: "warn",
  stale: "bad",
  closed: "bad",
};

function ConnectionRow({ c }: { c: ConnectionStatus }): VNode {
  const shown = c.products.slice(0, 6).join(", ");
  const more = c.products.length - 6;
  return (
    <tr data-connection={c.id} data-state={c.state}>
      <th scope="row" data-label="Connection">{c.id}</th>
      <td data-label="State">
        <span class={`badge ${STATE_CLASS[c.state] ?? "warn"}`}>{c.state}</span>
        {c.lastError && c.state !== "subscribed" && <small class="note">{c.lastError}</small>}
      </td>
      <td data-label="Products" class="products">
        {shown}
        {more > 0 && <span title={c.products.join(", ")}>{` +${more} more`}</span>}
      </td>
      <td data-label="Connected since">{formatTime(c.connectedSince)}</td>
      <td data-label="Reconnects" class="num">{String(c.reconnects)}</td>
      <td data-label="Last message" class="num">{formatDuration(c.lastMessageAgeS)}</td>
      <td data-label="Largest gap" class="num">{formatDuration(c.maxGapS)}</td>
      <td data-label="Sequence gaps" class="num">{String(c.sequenceGaps)}</td>
      <td data-label="Trades/s" class="num">{formatNumber(c.tradesPerS, 1)}</td>
    </tr>
  );
}

/** A line saying that live data is not flowing, or nothing when it is. */
export function LinkNotice(
  props: { state: LinkState; since?: number; now?: number; what: string },
): VNode | null {
  if (props.state === "live" || props.state === "connecting") return null;
  if (props.state === "unauthorized") {
    return (
      <p class="link-notice bad" role="status">
        Your session has ended: <a href="/login">log in again</a> to resume live {props.what}.
      </p>
    );
  }
  const ago = props.since && props.now ? ` (last update ${formatTime(props.since)})` : "";
  return (
    <p class="link-notice warn" role="status" data-link="reconnecting">
      {`Server unreachable, reconnecting${ago}…`}
    </p>
  );
}
