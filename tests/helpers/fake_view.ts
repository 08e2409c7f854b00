/**
 * A small hand-written {@linkcode ServiceView} for route tests: products, stored and live candles,
 * repairs and problems set by the test, candle updates through a real {@linkcode Hub}. No
 * simulator, no service: a route test checks what the route does with what the view answers.
 */
import type { Candle } from "../../lib/candles/candle.ts";
import type { Granularity, GranularityId } from "../../lib/candles/granularity.ts";
import type { ConnectionStatus } from "../../lib/exchange/feed_types.ts";
import type { Product } from "../../lib/exchange/product.ts";
import { productFromId } from "../../lib/history/catalogue.ts";
import type { FillProgress } from "../../lib/history/filler.ts";
import type { RepairRecord } from "../../lib/history/repair.ts";
import type { FleetReport } from "../../lib/service/fleet.ts";
import type { HealthBody } from "../../lib/service/health.ts";
import { LiveHub } from "./live_hub.ts";
import {
  type CandleRange,
  type CandleRow,
  type ProductProblem,
  type ServiceView,
  type StatusBody,
  withLive,
} from "../../lib/service/view.ts";

/** A product as the service has it once REST described it. */
export function onlineProduct(id: string): Product {
  return { ...productFromId(id), status: "online", displayName: id.replace("-", "/") };
}

/** A fake view whose every answer the test sets. */
export class FakeView implements ServiceView {
  readonly hub = new LiveHub();
  shard = { index: 0, count: 1 };
  served: Product[];
  problemList: ProductProblem[] = [];
  connections: ConnectionStatus[] = [];
  healthAnswer: { code: 200 | 503; body: HealthBody } = {
    code: 200,
    body: {
      status: "healthy",
      uptimeS: 1,
      connections: { connected: 1, total: 1 },
      lastMessageAgeS: 0.1,
      store: { ok: true, pendingWrites: 0 },
    },
  };
  metricsText = "# TYPE spot_trades_total counter\nspot_trades_total 0\n";
  /** Completed candles by `product|granularity`, oldest first. */
  readonly stored = new Map<string, Candle[]>();
  /** Live candles by `product|granularity`. */
  readonly liveCandles = new Map<string, Candle>();
  readonly repairs = new Map<string, RepairRecord[]>();
  readonly tradeAges = new Map<string, number>();
  readonly tradePrices = new Map<string, number>();
  /** What `fleet()` answers: a report, or an error to reject with. */
  fleetAnswer: FleetReport | Error = {
    shards: [],
    problems: [],
    products: { expected: 0, covered: 0, uncovered: 0, double: 0, byExchange: {} },
  };
  /**
   * What `storedCandles()` reads for products this view does not serve (a shared store's
   * completed and live candles), by `product|granularity`; `undefined`: the store is its own.
   */
  sharedStore?: Map<string, Candle[]>;
  /** What `ownerOf()` answers, by product. */
  readonly owners = new Map<string, string>();
  /** The ranges `candles()` was asked for, in order. */
  readonly asked: { product: string; granularity: GranularityId; range: CandleRange }[] = [];

  constructor(products: string[]) {
    this.served = products.map(onlineProduct);
  }

  health(): { code: 200 | 503; body: HealthBody } {
    return this.healthAnswer;
  }

  status(): StatusBody {
    return {
      status: this.healthAnswer.body.status,
      uptimeS: this.healthAnswer.body.uptimeS,
      shard: this.shard,
      products: this.served.length,
      problems: this.problemList,
      connections: this.connections,
      store: { kind: "kv", ok: true, pendingWrites: 0, writesPerS: 0 },
      sseSubscribers: this.hub.subscribers,
    };
  }

  products(): Product[] {
    return this.served;
  }

  problems(): ProductProblem[] {
    return this.problemList;
  }

  liveCandle(product: string, granularity: Granularity): Candle | undefined {
    return this.liveCandles.get(`${product}|${granularity.id}`);
  }

  candles(product: string, granularity: Granularity, range: CandleRange): Promise<CandleRow[]> {
    this.asked.push({ product, granularity: granularity.id, range });
    const all = this.stored.get(`${product}|${granularity.id}`) ?? [];
    const inRange = all.filter((c) =>
      (range.start === undefined || c.start >= range.start) &&
      (range.end === undefined || c.start <= range.end)
    );
    // As the stores do: from `start` the first `limit`, else the latest `limit`.
    const page = range.start === undefined
      ? inRange.slice(-range.limit)
      : inRange.slice(0, range.limit);
    return Promise.resolve(withLive(page, this.liveCandle(product, granularity), range));
  }

  storedCandles(
    product: string,
    granularity: Granularity,
    range: CandleRange,
  ): Promise<CandleRow[] | undefined> {
    const all = this.sharedStore?.get(`${product}|${granularity.id}`);
    if (all === undefined) return Promise.resolve(undefined);
    const rows = all.filter((c) =>
      (range.start === undefined || c.start >= range.start) &&
      (range.end === undefined || c.start <= range.end)
    );
    return Promise.resolve(withLive(rows, undefined, range));
  }

  ownerOf(product: string): Promise<string | undefined> {
    return Promise.resolve(this.owners.get(product));
  }

  live: ServiceView["live"] = (filter) => this.hub.live(filter);
  subscribe: ServiceView["subscribe"] = (filter, deliver, onClose) =>
    this.hub.subscribe(filter, deliver, onClose);

  lastTradeAgeS(product: string): number | undefined {
    return this.tradeAges.get(product);
  }

  lastTradePrice(product: string): number | undefined {
    return this.tradePrices.get(product);
  }

  fleet(): Promise<FleetReport> {
    const answer = this.fleetAnswer;
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }

  /** What `historyFill()` answers, by product. */
  readonly fills = new Map<string, FillProgress>();

  historyFill(product: string): FillProgress | undefined {
    return this.fills.get(product);
  }

  repairHistory(product: string): RepairRecord[] {
    return this.repairs.get(product) ?? [];
  }

  metrics(): Promise<string> {
    return Promise.resolve(this.metricsText);
  }
}

/** `n` one-minute candles from `startSec`, each one dollar above the last. */
export function minuteCandles(startSec: number, n: number): Candle[] {
  return Array.from({ length: n }, (_, i) => {
    const p = 100 + i;
    return { start: startSec + 60 * i, open: p, high: p + 0.5, low: p - 0.5, close: p, volume: 1 };
  });
}
