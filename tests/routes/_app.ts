/**
 * An app over a {@linkcode FakeView} serving the given products, configured by `env` as the
 * service would be: enough for routes whose answers come from configuration, auth and the view.
 */
import { loadConfig } from "../../lib/config.ts";
import { appOptions, createApp } from "../../routes/app.ts";
import { FakeView } from "../helpers/fake_view.ts";

/** The app over a fake view configured by `env`; `close()` is there for symmetry with stores. */
export function idleApp(env: Record<string, string>, products = ["BTC-USD", "ETH-USD"]) {
  const view = new FakeView(products);
  const app = createApp(view, appOptions(loadConfig((name) => env[name])));
  return Promise.resolve({ app, view, close: () => Promise.resolve() });
}
