/**
 * @module
 * The fleet: `/fleet` (page) and `/api/fleet` (JSON, DESIGN.md's shape) — every shard known to
 * the store's registry with its status and heartbeat age, and what is wrong with the fleet, from
 * the service view's `fleet()`. Access control is `routes/auth.ts`'s, as for `/api/status`. This
 * shard's `/health` does not depend on any of it.
 */
import { Hono } from "hono";
import type { VNode } from "preact";
import type { FleetReport } from "../../lib/service/fleet.ts";
import type { ServiceView } from "../../lib/service/view.ts";
import { FleetView, type FleetViewProps } from "../../islands/fleet_view.tsx";
import { Island, Page, renderPage } from "./layout.tsx";

/** What the routes ask of the service. */
export type FleetSource = Pick<ServiceView, "fleet" | "shard">;

/** Props of {@linkcode FleetPage}. */
export interface FleetPageProps {
  fleet: FleetViewProps;
  logout: boolean;
  notice?: string;
}

/** The fleet page. */
export function FleetPage(props: FleetPageProps): VNode {
  return (
    <Page title="Fleet" logout={props.logout} notice={props.notice}>
      <h1>
        Fleet <small>{`seen from shard ${props.fleet.self}`}</small>
      </h1>
      <Island name="fleet-view" props={props.fleet}>
        <FleetView {...props.fleet} />
      </Island>
    </Page>
  );
}

const EMPTY: FleetReport = {
  shards: [],
  problems: [],
  products: { expected: 0, covered: 0, uncovered: 0, double: 0, byExchange: {} },
};

/** `/fleet` and `/api/fleet`; a registry that cannot be read is a 503 saying why. */
export function fleetRoutes(source: FleetSource, options: { logout: boolean }): Hono {
  const app = new Hono();
  const self = `${source.shard.index}-of-${source.shard.count}`;
  const read = async (): Promise<{ report: FleetReport; error?: string }> => {
    try {
      return { report: await source.fleet() };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      return { report: EMPTY, error: `Cannot read the shard registry: ${message}` };
    }
  };

  app.get("/api/fleet", async (c) => {
    const { report, error } = await read();
    c.header("cache-control", "no-store");
    return error ? c.json({ error }, 503) : c.json(report);
  });

  app.get("/fleet", async (c) => {
    const { report, error } = await read();
    c.header("cache-control", "no-store");
    return c.html(
      renderPage(FleetPage({
        fleet: { initial: report, self },
        logout: options.logout,
        notice: error,
      })),
      error ? 503 : 200,
    );
  });
  return app;
}
