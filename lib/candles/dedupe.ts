/**
 * @module
 * Duplicate trade detection with constant memory per product. Coinbase trade ids are integers
 * rising per product, and a replayed snapshot only repeats recent ones, so a sliding bitmap over
 * the last `window` ids (1 bit each) answers "seen before?" exactly inside the window. Ids older
 * than the window are reported as such, never silently accepted twice.
 */

/** What {@linkcode TradeIdWindow.check} found. */
export type IdCheck = "new" | "duplicate" | "too_old";

/** A sliding window of seen trade ids for one product. */
export class TradeIdWindow {
  readonly #bits: Uint32Array;
  readonly #size: number;
  #max = -1;

  /** @param window ids remembered behind the newest one (rounded up to a multiple of 32) */
  constructor(window = 8192) {
    this.#size = Math.ceil(window / 32) * 32;
    this.#bits = new Uint32Array(this.#size / 32);
  }

  /** Records `id` and says whether it was new. */
  check(id: number): IdCheck {
    const size = this.#size;
    if (id > this.#max) {
      if (this.#max < 0 || id - this.#max >= size) this.#bits.fill(0);
      else for (let i = this.#max + 1; i < id; i++) this.#clear(i % size);
      // Setting the bit also forgets the id `size` behind, whose slot this is.
      this.#set(id % size);
      this.#max = id;
      return "new";
    }
    if (id <= this.#max - size) return "too_old";
    const slot = id % size;
    if (this.#bits[slot >>> 5]! & (1 << (slot & 31))) return "duplicate";
    this.#set(slot);
    return "new";
  }

  #set(slot: number): void {
    this.#bits[slot >>> 5]! |= 1 << (slot & 31);
  }

  #clear(slot: number): void {
    this.#bits[slot >>> 5]! &= ~(1 << (slot & 31));
  }
}
