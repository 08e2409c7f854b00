/**
 * @module
 * {@linkcode CatalogueRefresher}: keeps the stored catalogue in step with Coinbase while the
 * service runs. At start and then every `intervalMs` (default hourly) it fetches Coinbase's spot
 * products and merges what changed since its last write: the `trading_pairs/exchanges` rows
 * (`last_updated` in epoch ms) and the product documents `exchanges/coinbase/products/{id}` of
 * the products this shard serves (`lastUpdate` a server timestamp), both written by the one rule
 * of `catalogue.ts`. A served product that Coinbase delists (or drops from its list) turns
 * `delisted`: logged as a warning naming it, reported to `onDelisted`, and listed by
 * {@linkcode CatalogueRefresher.delisted} for `/health` notes and the dashboard. A row Coinbase
 * no longer lists at all is written `delisted` too. A failed refresh is logged and tried again
 * after `retryMs` (default a minute); it never stops the service.
 */
import { abortableSleep, type Clock, systemClock } from "../clock.ts";
import type { Product } from "../exchange/product.ts";
import type { MarketRest } from "../exchange/exchange.ts";
import { getLogger } from "../log.ts";
import type { CandleStore, CatalogueEntry, ProductDoc } from "../store/store.ts";
import { catalogueEntry, catalogueStatus } from "./catalogue.ts";

const log = getLogger(["spot", "catalogue"]);

/** Options for {@linkcode CatalogueRefresher}. */
export interface CatalogueRefresherOptions {
  rest: Pick<MarketRest, "products">;
  store: Pick<CandleStore, "writeCatalogue" | "writeProducts">;
  /** The product ids this shard serves; read at every refresh. */
  served: () => readonly string[];
  /** Time written into `last_updated`. @default systemClock */
  clock?: Clock;
  /** Real milliseconds between refreshes. @default 3_600_000 (hourly) */
  intervalMs?: number;
  /** Real milliseconds before a failed refresh is tried again. @default 60_000 */
  retryMs?: number;
  /** Waits real ms (resolving early on abort). @default abortableSleep */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Called with served products that a refresh found newly delisted. */
  onDelisted?: (productIds: string[]) => void;
  /** Called after a refresh wrote changed catalogue rows (readers of it may reread). */
  onCatalogueWritten?: () => void;
}

/** What one refresh did. */
export interface RefreshResult {
  /** Catalogue rows merged (changed since the last write, or all on the first). */
  catalogueRows: number;
  /** Product documents merged. */
  productDocs: number;
  /** Served products this refresh found delisted that were not before. */
  newlyDelisted: string[];
}

type Row = Omit<CatalogueEntry, "last_updated">;

function sameRow(a: Row | undefined, b: Row): boolean {
  return a !== undefined && a.status === b.status && a.base_currency === b.base_currency &&
    a.quote_currency === b.quote_currency && a.min_size === b.min_size &&
    a.max_size === b.max_size;
}

function sameDoc(a: ProductDoc | undefined, b: ProductDoc): boolean {
  return a !== undefined && a.status === b.status && a.base_currency === b.base_currency &&
    a.quote_currency === b.quote_currency;
}

/** Keeps `trading_pairs/exchanges` and the served products' documents current; see the module. */
export class CatalogueRefresher {
  readonly #o: CatalogueRefresherOptions;
  readonly #clock: Clock;
  /** Rows as last written, by product id. */
  readonly #rows = new Map<string, Row>();
  /** Product documents as last written, by product id. */
  readonly #docs = new Map<string, ProductDoc>();
  readonly #delisted = new Set<string>();
  #abort?: AbortController;
  #loop?: Promise<void>;
  #lastRefreshMs?: number;

  constructor(options: CatalogueRefresherOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Served products Coinbase has delisted, sorted. */
  delisted(): string[] {
    return [...this.#delisted].sort();
  }

  /** Clock time of the last successful refresh, if any. */
  get lastRefreshMs(): number | undefined {
    return this.#lastRefreshMs;
  }

  /** Refreshes now, then every `intervalMs`, until {@linkcode stop}. Returns at once. */
  start(): void {
    if (this.#loop) return;
    const abort = new AbortController();
    this.#abort = abort;
    const sleep = this.#o.sleep ?? abortableSleep;
    this.#loop = (async () => {
      while (!abort.signal.aborted) {
        let waitMs = this.#o.intervalMs ?? 3_600_000;
        try {
          await this.refresh(abort.signal);
        } catch (e) {
          if (abort.signal.aborted) break;
          waitMs = Math.min(waitMs, this.#o.retryMs ?? 60_000);
          log.warn("Catalogue refresh failed, next try in {waitS} s: {error}", {
            waitS: Math.round(waitMs / 1000),
            error: e instanceof Error ? e.message : String(e),
          });
        }
        await sleep(waitMs, abort.signal);
      }
    })();
  }

  /** Stops the loop, waiting for a refresh in flight to end. */
  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#loop;
    this.#loop = undefined;
  }

  /** One refresh: fetch, merge what changed, update the delisted set. */
  async refresh(signal?: AbortSignal): Promise<RefreshResult> {
    const listed = await this.#o.rest.products({ productType: "SPOT", signal });
    const now = this.#clock();
    const byId = new Map<string, Product>(listed.map((p) => [p.productId, p]));

    const rows: CatalogueEntry[] = [];
    for (const p of listed) {
      const entry = catalogueEntry(p, now);
      if (!sameRow(this.#rows.get(p.productId), entry)) rows.push(entry);
    }
    for (const [id, row] of this.#rows) {
      if (!byId.has(id) && row.status !== "delisted") {
        rows.push({ ...row, status: "delisted", last_updated: now });
      }
    }

    const docs: ProductDoc[] = [];
    const served = this.#o.served();
    for (const id of served) {
      const p = byId.get(id);
      const known = this.#docs.get(id);
      const [base = "", quote = ""] = id.split("-");
      const doc: ProductDoc = {
        product_id: id,
        base_currency: p?.baseCurrency ?? known?.base_currency ?? base,
        quote_currency: p?.quoteCurrency ?? known?.quote_currency ?? quote,
        status: p ? catalogueStatus(p) : "delisted",
      };
      if (!sameDoc(known, doc)) docs.push(doc);
    }

    await this.#o.store.writeCatalogue(rows);
    if (rows.length > 0) this.#o.onCatalogueWritten?.();
    await this.#o.store.writeProducts(docs);
    for (const { last_updated: _, ...row } of rows) this.#rows.set(row.product_id, row);
    for (const doc of docs) this.#docs.set(doc.product_id, doc);
    this.#lastRefreshMs = now;

    const newlyDelisted: string[] = [];
    const servedSet = new Set(served);
    for (const id of served) {
      const delisted = this.#docs.get(id)?.status === "delisted";
      if (delisted && !this.#delisted.has(id)) {
        this.#delisted.add(id);
        newlyDelisted.push(id);
        const p = byId.get(id);
        log.warn("{product} is delisted at Coinbase ({why}): no more trades will come for it", {
          product: id,
          why: !p ? "no longer listed" : p.isDisabled ? "disabled" : `status ${p.status}`,
        });
      } else if (!delisted && this.#delisted.delete(id)) {
        log.info("{product} is online at Coinbase again", { product: id });
      }
    }
    for (const id of this.#delisted) if (!servedSet.has(id)) this.#delisted.delete(id);
    if (newlyDelisted.length > 0) this.#o.onDelisted?.(newlyDelisted);
    log.info(
      "Catalogue refreshed: {listed} Coinbase products, {rows} rows and {docs} product documents written",
      { listed: listed.length, rows: rows.length, docs: docs.length },
    );
    return { catalogueRows: rows.length, productDocs: docs.length, newlyDelisted };
  }
}
