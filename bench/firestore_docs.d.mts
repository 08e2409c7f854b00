/** A write as `FirestoreRest.commit` takes it. */
export interface DocWrite {
  path: string;
  data: Record<string, number>;
  merge?: boolean;
  serverTimestamps?: string[][];
}
export const GRANULARITIES: [string, number][];
export const CHUNK: number;
export function roundCommits(products: number, round: number, chunk?: number): DocWrite[][];
export function libraryRound(
  // deno-lint-ignore no-explicit-any
  db: any,
  // deno-lint-ignore no-explicit-any
  FieldValue: any,
  commits: DocWrite[][],
  concurrency: number,
): Promise<void>;
