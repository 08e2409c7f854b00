/**
 * @module
 * Bounded concurrency for the stores' batched reads: many independent calls (one per product)
 * with at most a fixed number in flight, so a 1,000-product read neither runs one at a time nor
 * opens a thousand requests at once.
 */

/** Runs `fn` over `items` with at most `concurrency` calls in flight; rejects on the first error. */
export async function eachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
