// @ts-self-types="./firestore_docs.d.mts"
/**
 * @module
 * The documents of the Firestore transport comparison (`firestore_transport_part.ts`), shared
 * by its Deno and Node processes so that every transport writes the same documents: each round
 * rewrites every product's eight compat live documents (`exchanges/coinbase/products/{p}/
 * intervals/{g}`, merged, `lastUpdate` the server's time, as the store's `writeLive`) and adds
 * one completed 1-minute candle per product (`…/history/ONE_MINUTE/candles/{start ms}`, set), in
 * commits of 200 documents (the store's `WRITE_CHUNK`). Plain JavaScript: Node runs it as is.
 */

export const GRANULARITIES = [
  ["ONE_MINUTE", 60],
  ["FIVE_MINUTE", 300],
  ["FIFTEEN_MINUTE", 900],
  ["THIRTY_MINUTE", 1800],
  ["ONE_HOUR", 3600],
  ["TWO_HOUR", 7200],
  ["SIX_HOUR", 21600],
  ["ONE_DAY", 86400],
];

/** The store's commit size (`WRITE_CHUNK` in lib/store/firestore.ts). */
export const CHUNK = 200;

/**
 * Round `round`'s writes, in commits: `{path, data, merge, serverTimestamps}` as the store hands
 * `FirestoreRest.commit` (the Node side turns each into `set(data, {merge})` with
 * `FieldValue.serverTimestamp()`).
 */
export function roundCommits(products, round, chunk = CHUNK) {
  const writes = [];
  const t0 = 1773500400 + round * 60;
  for (let i = 0; i < products; i++) {
    const p = `P${i}-USD`;
    const base = 100 + i + round * 0.01;
    for (const [g, s] of GRANULARITIES) {
      writes.push({
        path: `exchanges/coinbase/products/${p}/intervals/${g}`,
        data: {
          timestamp: Math.floor(t0 / s) * s,
          open: base,
          high: base + 0.5,
          low: base - 0.25,
          close: base + 0.125,
          volume: 12.34567891 + round,
        },
        merge: true,
        serverTimestamps: [["lastUpdate"]],
      });
    }
    const startMs = (t0 - 60) * 1000;
    writes.push({
      path: `exchanges/coinbase/products/${p}/history/ONE_MINUTE/candles/${startMs}`,
      data: {
        open: base,
        high: base + 1,
        low: base - 1,
        close: base,
        volume: 3.5 + round,
        first_timestamp: startMs,
        last_timestamp: startMs + 59_999,
      },
    });
  }
  const commits = [];
  for (let i = 0; i < writes.length; i += chunk) commits.push(writes.slice(i, i + chunk));
  return commits;
}

/** Writes with `@google-cloud/firestore` (`Firestore` from the package, `db` a client). */
export async function libraryRound(db, FieldValue, commits, concurrency) {
  let next = 0;
  const worker = async () => {
    while (next < commits.length) {
      const writes = commits[next++];
      const batch = db.batch();
      for (const w of writes) {
        const data = { ...w.data };
        for (const [f] of w.serverTimestamps ?? []) data[f] = FieldValue.serverTimestamp();
        if (w.merge) batch.set(db.doc(w.path), data, { merge: true });
        else batch.set(db.doc(w.path), data);
      }
      await batch.commit();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
