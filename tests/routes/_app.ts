/**
 * An app over a service that is built but not started (no feed, no REST calls), serving the
 * given products: enough for routes whose answers come from configuration, auth and the store.
 */
import { loadConfig } from "../../lib/config.ts";
import { RestClient } from "../../lib/coinbase/rest.ts";
import { productFromId } from "../../lib/history/catalogue.ts";
import { Service } from "../../lib/service/service.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { createApp } from "../../routes/app.ts";

/** The app of an idle service configured by `env`; `close()` releases its store. */
export async function idleApp(env: Record<string, string>, products = ["BTC-USD", "ETH-USD"]) {
  const store = await openKvCandleStore(":memory:");
  const service = new Service({
    config: loadConfig((name) => env[name]),
    store,
    rest: new RestClient({ baseUrl: "http://127.0.0.1:9/api/v3/brokerage" }),
  });
  service.products = products.map(productFromId);
  return { app: createApp(service), close: () => store.close() };
}
