/**
 * @module
 * Shared loader for our WASM kernels: instantiates a generated module once,
 * synchronously, and manages its linear memory as one scratch region after
 * `__heap_base` that each call lays out afresh. Memory only grows to the
 * largest single call, so it stays bounded however many calls run.
 */

import { assert } from "../assert.ts";

const PAGE_BYTES = 65536;
/** wasm32 can address 4 GiB; keep every call's scratch below this. */
export const SCRATCH_BYTES_MAX: number = 3 * 2 ** 30;

/** Bump allocator over one call's scratch region (64-byte aligned). */
export class Layout {
  #end: number;

  /** Starts a layout at byte address `start`. */
  constructor(start: number) {
    this.#end = start;
  }

  /** Reserves `bytes` and returns their address. */
  take(bytes: number): number {
    assert(Number.isSafeInteger(bytes) && bytes >= 0, "take() needs a size");
    const at = (this.#end + 63) & ~63;
    this.#end = at + bytes;
    return at;
  }

  /** One past the last reserved byte. */
  get end(): number {
    return this.#end;
  }
}

/** One instantiated kernel: its exports, memory and resident object. */
export class WasmKernel<E> {
  /** The module's exported functions. */
  readonly fn: E;
  #memory: WebAssembly.Memory;
  #base: number;
  #resident: object | null = null;
  #residentEnd = 0;

  /** Instantiates the module whose bytes are `base64` (no imports). */
  constructor(base64: string) {
    const raw = atob(base64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    const instance = new WebAssembly.Instance(
      new WebAssembly.Module(bytes),
      {},
    );
    const exports = instance.exports;
    this.#memory = exports.memory as WebAssembly.Memory;
    const heapBase = (exports.__heap_base as WebAssembly.Global).value;
    this.#base = (Number(heapBase) + 63) & ~63;
    this.fn = exports as unknown as E;
  }

  /** Current linear memory size in bytes. */
  get memoryBytes(): number {
    return this.#memory.buffer.byteLength;
  }

  /** Starts a layout at the heap base; forgets any resident object. */
  begin(): Layout {
    this.#resident = null;
    return new Layout(this.#base);
  }

  /**
   * Keeps `bytes` (owned by `owner`, immutable) at the heap base, copying
   * them only if another owner was there, and starts a layout after them.
   * Returns the address of the resident copy.
   */
  beginWith(owner: object, bytes: Uint8Array): [number, Layout] {
    if (this.#resident !== owner) {
      this.#resident = null;
      const layout = new Layout(this.#base);
      const at = layout.take(bytes.length);
      this.commit(layout);
      this.u8(at, bytes.length).set(bytes);
      this.#resident = owner;
      this.#residentEnd = layout.end;
    }
    return [this.#base, new Layout(this.#residentEnd)];
  }

  /** Grows memory so everything `layout` reserved is addressable. */
  commit(layout: Layout): void {
    const need = layout.end;
    assert(
      need - this.#base <= SCRATCH_BYTES_MAX,
      `WASM scratch of ${need - this.#base} bytes exceeds the limit`,
    );
    const have = this.#memory.buffer.byteLength;
    if (need > have) {
      this.#memory.grow(Math.ceil((need - have) / PAGE_BYTES));
    }
  }

  /** A view of `length` bytes at `ptr` (valid until memory grows). */
  u8(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.#memory.buffer, ptr, length);
  }

  /** A view of `length` u32 at `ptr` (4-aligned). */
  u32(ptr: number, length: number): Uint32Array {
    return new Uint32Array(this.#memory.buffer, ptr, length);
  }

  /** A view of `length` u64 at `ptr` (8-aligned). */
  u64(ptr: number, length: number): BigUint64Array {
    return new BigUint64Array(this.#memory.buffer, ptr, length);
  }
}
