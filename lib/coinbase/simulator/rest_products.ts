/**
 * @module
 * The simulator's product rows, in the shape of Coinbase's `/market/products` objects
 * (coinbase-protocol.md §6.3: decimals as strings, flags as booleans, lowercase status, and the
 * extra fields clients must ignore), built from the market's product specs. Delisted and alias
 * rows look as recorded on 2026-08-09: a delisted row keeps its last price and is
 * `trading_disabled` (not `is_disabled`, `cancel_only` or `view_only`), with empty 24 h figures;
 * an alias (`BTC-USDC`) names its book in `alias`, displays that book's quote symbol, and the
 * book lists it in `alias_to`.
 */
import { MEAN_TRADE_SIZE, type SimProductSpec } from "../../simulator/market.ts";

const NAMES: Record<string, string> = {
  BTC: "Bitcoin",
  ETH: "Ethereum",
  SOL: "Solana",
  ADA: "Cardano",
  DOGE: "Dogecoin",
  XRP: "XRP",
  LTC: "Litecoin",
  USD: "US Dollar",
  USDC: "USDC",
  EUR: "Euro",
  GBP: "British Pound",
};

/** Decimal places of a tick such as 0.01. */
export function tickDecimals(spec: SimProductSpec): number {
  return Math.max(0, Math.round(-Math.log10(spec.tick ?? 0.01)));
}

/**
 * One product row as Coinbase would send it, with `price` the current level and `aliasTo` the
 * ids of the products that are aliases of this one.
 */
export function productRow(
  spec: SimProductSpec,
  price: string,
  aliasTo: string[] = [],
): Record<string, unknown> {
  const [base = "", quote = ""] = spec.id.split("-");
  const delisted = spec.status === "delisted";
  const tick = (spec.tick ?? 0.01).toFixed(tickDecimals(spec));
  const p = Number(price);
  const alias = spec.alias ?? "";
  const displayQuote = alias ? alias.split("-")[1] ?? quote : quote;
  const day = (v: string) => delisted ? "" : v;
  return {
    product_id: spec.id,
    price,
    price_percentage_change_24h: day("0.42"),
    volume_24h: day((spec.tradesPerSecond * 86400 * MEAN_TRADE_SIZE).toFixed(8)),
    volume_percentage_change_24h: day("-3.1"),
    base_increment: "0.00000001",
    quote_increment: tick,
    quote_min_size: "1",
    quote_max_size: "150000000",
    base_min_size: "0.00000001",
    base_max_size: p > 0 ? String(Math.max(1, Math.round(150_000_000 / p))) : "1000000",
    base_name: NAMES[base] ?? base,
    quote_name: NAMES[quote] ?? quote,
    watched: false,
    is_disabled: false,
    new: false,
    status: delisted ? "delisted" : "online",
    cancel_only: false,
    limit_only: false,
    post_only: false,
    trading_disabled: delisted,
    auction_mode: false,
    product_type: "SPOT",
    quote_currency_id: quote,
    base_currency_id: base,
    fcm_trading_session_details: null,
    mid_market_price: "",
    alias,
    alias_to: aliasTo,
    base_display_symbol: base,
    quote_display_symbol: displayQuote,
    view_only: false,
    price_increment: tick,
    display_name: spec.id,
    product_venue: "CBE",
    approximate_quote_24h_volume: day(
      (spec.tradesPerSecond * 86400 * MEAN_TRADE_SIZE * p).toFixed(2),
    ),
    new_at: "2021-06-01T00:00:00Z",
    market_cap: "",
    base_cbrn: "",
    quote_cbrn: "",
    product_cbrn: "",
    icon_color: "",
    icon_url: "",
    display_name_overwrite: "",
    is_alpha_testing: false,
    about_description: "",
    best_bid_price: "",
    best_ask_price: "",
    high_24h: day(price),
    low_24h: day(price),
  };
}
