/**
 * @module
 * Island: the fleet as the shard registry shows it (`/api/fleet`): what is wrong first, one plain
 * sentence per problem with the products it affects, then every shard with its status,
 * heartbeat age, products, connections and gaps. Server-rendered with the current report, then
 * refreshed every five seconds.
 */
import type { VNode } from "preact";
import type { FleetProblem, FleetReport, FleetShard } from "../lib/service/fleet.ts";
import { formatDateTime, formatDuration, formatNumber } from "./format.ts";
import { LinkNotice } from "./overview_status.tsx";
import { usePoll, useTicker } from "./stream.ts";

/** Props of {@linkcode FleetView}. */
export interface FleetViewProps {
  initial: FleetReport;
  /** This shard's id (`{index}-of-{count}`), marked in the table. */
  self: string;
  /** @default 5000 */
  pollMs?: number;
}

/** Product ids listed under a problem before "and N more". */
const LISTED = 40;

const STATUS_CLASS: Record<string, string> = {
  healthy: "ok",
  starting: "warn",
  degraded: "warn",
  stopped: "bad",
  silent: "bad",
};

const KIND_TITLE: Record<string, string> = {
  uncovered: "Not served",
  double: "Served twice",
  count_mismatch: "SHARD_COUNT mismatch",
  silent: "Silent shard",
};

/** The fleet report, kept fresh. */
export function FleetView({ initial, self, pollMs = 5000 }: FleetViewProps): VNode {
  const { data, state, updatedAt } = usePoll<FleetReport>("/api/fleet", pollMs, initial);
  const now = useTicker(1000);
  const p = data.products;
  return (
    <>
      <LinkNotice state={state} since={updatedAt} now={now} what="fleet status" />
      <section aria-labelledby="problems-heading">
        <h2 id="problems-heading">Problems</h2>
        <p class="coverage" data-coverage={`${p.covered}/${p.expected}`}>
          {`${p.covered} of ${p.expected} products served by a live shard`}
          {p.double > 0 && `, ${p.double} by more than one`}
        </p>
        {data.problems.length === 0
          ? (
            <p class="badge ok" data-problems="0">
              No problems: every product has exactly one live shard
            </p>
          )
          : (
            <ul class="problems" data-problems={data.problems.length}>
              {data.problems.map((problem, i) => <Problem key={i} problem={problem} />)}
            </ul>
          )}
      </section>
      <section aria-labelledby="shards-heading">
        <h2 id="shards-heading">Shards</h2>
        <div class="table-wrap">
          <table class="shards stack" aria-labelledby="shards-heading">
            <thead>
              <tr>
                <th scope="col">Shard</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">Heartbeat</th>
                <th scope="col" class="num">Products</th>
                <th scope="col" class="num">Connections</th>
                <th scope="col" class="num">Reconnects</th>
                <th scope="col" class="num">Sequence gaps</th>
                <th scope="col" class="num">Largest gap</th>
                <th scope="col">Version</th>
                <th scope="col">Started</th>
              </tr>
            </thead>
            <tbody>
              {data.shards.length === 0 && (
                <tr>
                  <td colSpan={10}>No shard has written to the registry yet</td>
                </tr>
              )}
              {data.shards.map((s) => (
                <ShardRow
                  key={s.id}
                  s={s}
                  self={s.id === self}
                  ageS={s.heartbeatAgeS + (now - updatedAt) / 1000}
                />
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}

function Problem({ problem }: { problem: FleetProblem }): VNode {
  const products = problem.products ?? [];
  const more = products.length - LISTED;
  return (
    <li class={`problem ${problem.kind}`} data-kind={problem.kind}>
      <strong>{KIND_TITLE[problem.kind] ?? problem.kind}</strong> {problem.message}
      {products.length > 0 && (
        <details>
          <summary>{`${products.length} product${products.length === 1 ? "" : "s"}`}</summary>
          <p class="products">
            {products.slice(0, LISTED).join(", ")}
            {more > 0 && ` and ${more} more (all in /api/fleet)`}
          </p>
        </details>
      )}
    </li>
  );
}

function ShardRow({ s, self, ageS }: { s: FleetShard; self: boolean; ageS: number }): VNode {
  return (
    <tr data-shard={s.id} data-status={s.status}>
      <th scope="row" data-label="Shard">
        {s.id}
        {self && <small class="note">this shard</small>}
      </th>
      <td data-label="Status">
        <span class={`badge ${STATUS_CLASS[s.status] ?? "warn"}`}>{s.status}</span>
      </td>
      <td data-label="Heartbeat" class="num">{`${formatDuration(ageS)} ago`}</td>
      <td data-label="Products" class="num">{String(s.products.length)}</td>
      <td data-label="Connections" class="num">
        {`${s.connections.connected}/${s.connections.total}`}
      </td>
      <td data-label="Reconnects" class="num">{String(s.connections.reconnects)}</td>
      <td data-label="Sequence gaps" class="num">{String(s.gaps.sequenceGaps)}</td>
      <td data-label="Largest gap" class="num">{`${formatNumber(s.gaps.maxGapS, 1)} s`}</td>
      <td data-label="Version">{s.version}</td>
      <td data-label="Started">{formatDateTime(s.startedAt)}</td>
    </tr>
  );
}
