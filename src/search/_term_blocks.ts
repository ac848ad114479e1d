/**
 * @module
 * The blocks holding each term of one companion field, kept in memory in
 * whichever form is smaller per term: a sorted list of block numbers for a
 * rare term, a bitmap (a bit per block) for a common one. Memory per term is
 * thus at most a bitmap and at most a few bytes per block holding it, so
 * small blocks (many per segment) stay cheap for the many rare terms of a
 * text field.
 */

/** Block numbers per list entry: 2 bytes up to this many blocks, else 4. */
const SHORT_IDS_BLOCKS_MAX = 1 << 16;

/** Bytes of a bitmap of `n` blocks. */
export function bitmapBytes(n: number): number {
  return (n + 7) >> 3;
}

/** The blocks of every term of one field, in term order (see the module doc). */
export class TermBlocks {
  /** Blocks in the companion. */
  readonly n: number;
  /** Term `i`'s list is `ids[start[i]..start[i + 1])` (empty for a bitmap term). */
  readonly start: Uint32Array;
  /** Every list term's blocks, ascending within a term. */
  readonly ids: Uint16Array | Uint32Array;
  /** Byte offset of term `i`'s bitmap in `bits`, or -1 for a list term. */
  readonly bitsAt: Int32Array;
  /** Every bitmap term's bitmap, `bitmapBytes(n)` each. */
  readonly bits: Uint8Array;

  /** Use `TermBlocksBuilder`; the parts are checked there. */
  constructor(
    n: number,
    start: Uint32Array,
    ids: Uint16Array | Uint32Array,
    bitsAt: Int32Array,
    bits: Uint8Array,
  ) {
    this.n = n;
    this.start = start;
    this.ids = ids;
    this.bitsAt = bitsAt;
    this.bits = bits;
  }

  /** Terms held. */
  get length(): number {
    return this.bitsAt.length;
  }

  /** Bytes the parts hold. */
  get byteLength(): number {
    return this.start.byteLength + this.ids.byteLength +
      this.bitsAt.byteLength + this.bits.byteLength;
  }

  /** Sets the bits of term `i`'s blocks in `target` (a bitmap of `n` blocks). */
  orInto(i: number, target: Uint8Array): void {
    const at = this.bitsAt[i];
    if (at >= 0) {
      const bits = this.bits;
      for (let k = 0; k < target.length; k++) target[k] |= bits[at + k];
      return;
    }
    const ids = this.ids;
    for (let k = this.start[i]; k < this.start[i + 1]; k++) {
      const b = ids[k];
      target[b >> 3] |= 1 << (b & 7);
    }
  }

  /** Term `i`'s blocks, ascending. */
  blocksOf(i: number): number[] {
    const at = this.bitsAt[i];
    if (at < 0) {
      return Array.from(this.ids.subarray(this.start[i], this.start[i + 1]));
    }
    const out: number[] = [];
    for (let b = 0; b < this.n; b++) {
      if ((this.bits[at + (b >> 3)] & (1 << (b & 7))) !== 0) out.push(b);
    }
    return out;
  }

  /** Term `i`'s blocks as a bitmap (a copy). */
  bitmapOf(i: number): Uint8Array {
    const out = new Uint8Array(bitmapBytes(this.n));
    this.orInto(i, out);
    return out;
  }
}

/**
 * Collects the terms' blocks in term order and picks each term's form: a
 * list when its entries take no more bytes than the bitmap.
 */
export class TermBlocksBuilder {
  readonly #n: number;
  readonly #size: number;
  readonly #idBytes: number;
  readonly #start: number[] = [0];
  readonly #ids: number[] = [];
  readonly #bitsAt: number[] = [];
  readonly #bitmaps: Uint8Array[] = [];

  /** A builder for a companion of `n` blocks. */
  constructor(n: number) {
    this.#n = n;
    this.#size = bitmapBytes(n);
    this.#idBytes = n <= SHORT_IDS_BLOCKS_MAX ? 2 : 4;
  }

  /** Adds the next term, its blocks ascending and each below `n`. */
  addList(blocks: readonly number[]): void {
    if (blocks.length * this.#idBytes <= this.#size) {
      for (const b of blocks) this.#ids.push(b);
      this.#endList();
      return;
    }
    const bits = new Uint8Array(this.#size);
    for (const b of blocks) bits[b >> 3] |= 1 << (b & 7);
    this.#addBitmap(bits);
  }

  /** Adds the next term as a bitmap of `n` blocks (copied when kept). */
  addBitmap(bits: Uint8Array): void {
    let k = 0;
    for (let at = 0; at < bits.length; at++) k += POPCOUNT[bits[at]];
    if (k * this.#idBytes > this.#size) {
      this.#addBitmap(bits.slice());
      return;
    }
    for (let at = 0; at < bits.length; at++) {
      const byte = bits[at];
      if (byte === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        if ((byte & (1 << bit)) !== 0) this.#ids.push(at * 8 + bit);
      }
    }
    this.#endList();
  }

  #endList(): void {
    this.#start.push(this.#ids.length);
    this.#bitsAt.push(-1);
  }

  #addBitmap(bits: Uint8Array): void {
    this.#start.push(this.#ids.length);
    this.#bitsAt.push(this.#bitmaps.length * this.#size);
    this.#bitmaps.push(bits);
  }

  /** The terms added, in order. */
  finish(): TermBlocks {
    const bits = new Uint8Array(this.#bitmaps.length * this.#size);
    this.#bitmaps.forEach((b, i) => bits.set(b, i * this.#size));
    const ids = this.#idBytes === 2
      ? Uint16Array.from(this.#ids)
      : Uint32Array.from(this.#ids);
    return new TermBlocks(
      this.#n,
      Uint32Array.from(this.#start),
      ids,
      Int32Array.from(this.#bitsAt),
      bits,
    );
  }
}

/** Set bits per byte value. */
const POPCOUNT: Uint8Array = Uint8Array.from(
  { length: 256 },
  (_, v) => v.toString(2).replaceAll("0", "").length,
);
