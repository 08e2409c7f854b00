/**
 * @module
 * The floor under the service's CPU per trade: a bare Deno WebSocket client on the connections
 * the service opens (the products split `perConnection` to a socket, each subscribed to
 * `heartbeats` and `market_trades`), doing nothing with a frame but count it (`bare`) or, in
 * `parse` mode, `JSON.parse` it as well. What this process spends per frame is what receiving
 * Coinbase's frames costs in Deno before any of the service's own work.
 *
 * Usage: `bench/ws_floor_process.ts <wsUrl> <bare|parse> <perConnection> <product,product,…>`.
 * Prints `{"ready":true}` once every socket has its `market_trades` acknowledgement, then
 * answers each line on stdin with `{"frames","trades","ageP50Ms","ageP99Ms"}`: frames and trades
 * counted so far (trades: `"trade_id"` occurrences in `bare` mode, parsed trades in `parse`
 * mode), and the quantiles of the `market_trades` frames' age at receipt (receipt − the frame's
 * own `timestamp`) since the previous answer. Stdin closing stops it.
 */

const [url, mode, perText, list] = Deno.args;
const per = Number(perText);
const products = (list ?? "").split(",").filter(Boolean);
if (!url || (mode !== "bare" && mode !== "parse") || !(per > 0) || !products.length) {
  throw new Error(`Bad ws_floor_process arguments: ${Deno.args.join(" ").slice(0, 200)}`);
}

let frames = 0;
let ages: number[] = [];
let trades = 0;
let acked = 0;
const sockets: WebSocket[] = [];
const groups: string[][] = [];
for (let i = 0; i < products.length; i += per) groups.push(products.slice(i, i + per));

function reply(value: unknown): void {
  // deno-lint-ignore no-console
  console.log(JSON.stringify(value));
}

const TIMESTAMP = '"timestamp":"';

/** Receipt − the frame's `timestamp` (ms; the fraction cut to milliseconds). */
function ageMs(text: string, receivedMs: number): number {
  const i = text.indexOf(TIMESTAMP);
  if (i < 0) return NaN;
  const from = i + TIMESTAMP.length;
  return receivedMs - Date.parse(`${text.slice(from, from + 23)}Z`);
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
}

/** Occurrences of `"trade_id"` in a frame: its trades, without parsing it. */
function countTrades(text: string): number {
  let n = 0;
  for (let i = text.indexOf('"trade_id"'); i >= 0; i = text.indexOf('"trade_id"', i + 10)) n++;
  return n;
}

await Promise.all(groups.map((ids) =>
  new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url);
    sockets.push(ws);
    let ready = false;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "subscribe", channel: "heartbeats" }));
      ws.send(JSON.stringify({ type: "subscribe", channel: "market_trades", product_ids: ids }));
    };
    ws.onerror = (e) => reject(new Error(`floor socket: ${(e as ErrorEvent).message}`));
    ws.onmessage = (e) => {
      const text = typeof e.data === "string" ? e.data : "";
      frames++;
      if (text.includes('"channel":"market_trades"')) ages.push(ageMs(text, Date.now()));
      if (mode === "parse") {
        const msg = JSON.parse(text);
        if (msg.channel === "market_trades") {
          for (const ev of msg.events ?? []) trades += ev.trades?.length ?? 0;
        }
      } else trades += countTrades(text);
      if (!ready && text.includes('"subscriptions"') && text.includes("market_trades")) {
        ready = true;
        acked++;
        resolve();
      }
    };
  })
));
reply({ ready: true, sockets: sockets.length, acked });

const decoder = new TextDecoder();
for await (const chunk of Deno.stdin.readable) {
  for (const _ of decoder.decode(chunk).split("\n").filter((l) => l.trim())) {
    const sorted = ages.filter((a) => !Number.isNaN(a)).sort((a, b) => a - b);
    ages = [];
    reply({ frames, trades, ageP50Ms: quantile(sorted, 0.5), ageP99Ms: quantile(sorted, 0.99) });
  }
}
for (const ws of sockets) ws.close();
