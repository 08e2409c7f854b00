/**
 * @module
 * The floor under the service's CPU per Kraken trade: a bare Deno WebSocket client on the
 * connections the service opens to Kraken (the pairs split `perConnection` to a socket, the
 * Kraken feed's default 50, each subscribed to the v2 `trade` channel with `snapshot:true`),
 * doing nothing with a frame but count it (`bare`: `"trade_id"` occurrences) or, in `parse`
 * mode, `JSON.parse` it as well. Kraken's counterpart of `ws_floor_process.ts`.
 *
 * Usage: `bench/kraken_ws_floor_process.ts <wsUrl> <bare|parse> <perConnection> <SYM,SYM,…>`.
 * Prints `{"ready":true}` once every symbol is acknowledged, then answers each stdin line with
 * `{"frames","trades"}` counted so far. Stdin closing stops it.
 */

const [url, mode, perText, list] = Deno.args;
const per = Number(perText);
const symbols = (list ?? "").split(",").filter(Boolean);
if (!url || (mode !== "bare" && mode !== "parse") || !(per > 0) || !symbols.length) {
  throw new Error(`Bad kraken_ws_floor_process arguments: ${Deno.args.join(" ").slice(0, 200)}`);
}

let frames = 0;
let trades = 0;
const sockets: WebSocket[] = [];
const groups: string[][] = [];
for (let i = 0; i < symbols.length; i += per) groups.push(symbols.slice(i, i + per));

function reply(value: unknown): void {
  // deno-lint-ignore no-console
  console.log(JSON.stringify(value));
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
    let acked = 0;
    ws.onopen = () => {
      ws.send(JSON.stringify({
        method: "subscribe",
        params: { channel: "trade", symbol: ids, snapshot: true },
      }));
    };
    ws.onerror = (e) => reject(new Error(`floor socket: ${(e as ErrorEvent).message}`));
    ws.onmessage = (e) => {
      const text = typeof e.data === "string" ? e.data : "";
      frames++;
      if (mode === "parse") {
        const msg = JSON.parse(text);
        if (msg.channel === "trade") trades += msg.data?.length ?? 0;
      } else trades += countTrades(text);
      if (text.startsWith('{"method":"subscribe"') && text.includes('"success":true')) {
        if (++acked === ids.length) resolve();
      }
    };
  })
));
reply({ ready: true, sockets: sockets.length });

const decoder = new TextDecoder();
for await (const chunk of Deno.stdin.readable) {
  for (const _ of decoder.decode(chunk).split("\n").filter((l) => l.trim())) {
    reply({ frames, trades });
  }
}
for (const ws of sockets) ws.close();
