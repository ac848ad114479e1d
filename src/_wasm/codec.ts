/**
 * @module
 * Block compression behind one `Codec` interface, with two zstd
 * implementations that read each other's frames: `@bokuweb/zstd-wasm`
 * (emscripten build of libzstd) and Deno's native `node:zlib` zstd. A small
 * frame walker checks structure first, so truncated input is a typed
 * `corrupt` error and frames without a content size still decode.
 */

import * as zstdWasm from "@bokuweb/zstd-wasm";
import * as zlib from "node:zlib";
import { assert } from "../assert.ts";
import { StreamError } from "../errors.ts";
import { concatBytes } from "../bytes.ts";

/** A block compressor; `decompress` accepts any valid zstd frames. */
export interface Codec {
  /** Short name for configs and logs, for example "zstd-wasm". */
  readonly name: string;
  /** Compresses `bytes` at `level` (zstd: -7..22; 1 is fast, 3 default). */
  compress(bytes: Uint8Array, level: number): Uint8Array;
  /** Decompresses; throws StreamError("corrupt") on bad or truncated input. */
  decompress(bytes: Uint8Array): Uint8Array;
}

/** Options shared by both codecs. */
export interface CodecOptions {
  /** Largest output `decompress` produces before reporting corrupt input. */
  decompressedBytesMax?: number;
}

/** Default cap on one `decompress` result (256 MiB). */
export const DECOMPRESSED_BYTES_MAX_DEFAULT: number = 256 * 2 ** 20;

const ZSTD_MAGIC = 0xfd2fb528;
const BLOCK_BYTES_MAX = 128 * 1024;

/** One frame found by `zstdFrames`. */
export interface ZstdFrame {
  /** Byte offset of the frame in the input. */
  start: number;
  /** One past its last byte. */
  end: number;
  /** True for a skippable frame (no output). */
  skippable: boolean;
  /** Declared content size, or null when the header omits it. */
  contentSize: number | null;
  /** Upper bound of this frame's decompressed size. */
  outputBytesMax: number;
}

function corrupt(reason: string, detail?: Record<string, unknown>): never {
  throw new StreamError("corrupt", `Cannot decompress zstd: ${reason}`, detail);
}

function need(bytes: Uint8Array, at: number, n: number): void {
  if (at + n > bytes.length) corrupt(`truncated at byte ${bytes.length}`);
}

function readLe(bytes: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + bytes[at + i];
  return v;
}

/** Parses a zstd frame header at `at`; returns [next offset, fcs, window]. */
function frameHeader(
  bytes: Uint8Array,
  at: number,
): [number, number | null, number] {
  need(bytes, at, 1);
  const fhd = bytes[at++];
  if (fhd & 0x08) corrupt("reserved frame header bit set");
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3];
  let window = 0;
  if (!single) {
    need(bytes, at, 1);
    const wd = bytes[at++];
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  need(bytes, at, dictBytes);
  at += dictBytes;
  const fcsBytes = [single ? 1 : 0, 2, 4, 8][fcsFlag];
  need(bytes, at, fcsBytes);
  let fcs: number | null = null;
  if (fcsBytes > 0) {
    fcs = readLe(bytes, at, fcsBytes) + (fcsBytes === 2 ? 256 : 0);
    at += fcsBytes;
  }
  if (single) window = fcs ?? 0;
  return [at, fcs, window];
}

/**
 * Walks the frames in `bytes` (zstd and skippable), checking that every
 * header and block fits. Throws StreamError("corrupt") otherwise.
 */
export function zstdFrames(bytes: Uint8Array): ZstdFrame[] {
  const frames: ZstdFrame[] = [];
  let at = 0;
  if (bytes.length === 0) corrupt("empty input");
  while (at < bytes.length) {
    const start = at;
    need(bytes, at, 4);
    const magic = readLe(bytes, at, 4);
    at += 4;
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      need(bytes, at, 4);
      const size = readLe(bytes, at, 4);
      need(bytes, at + 4, size);
      at += 4 + size;
      frames.push({
        start,
        end: at,
        skippable: true,
        contentSize: 0,
        outputBytesMax: 0,
      });
      continue;
    }
    if (magic !== ZSTD_MAGIC) corrupt(`bad magic at byte ${start}`);
    const checksum = (bytes[at] >> 2) & 1;
    const [next, fcs, window] = frameHeader(bytes, at);
    at = next;
    const blockMax = Math.min(window, BLOCK_BYTES_MAX);
    let bound = 0;
    for (let last = 0; !last;) {
      need(bytes, at, 3);
      const header = readLe(bytes, at, 3);
      at += 3;
      last = header & 1;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 3) corrupt("reserved block type");
      const stored = type === 1 ? 1 : size;
      need(bytes, at, stored);
      at += stored;
      bound += type === 2 ? blockMax : size;
    }
    need(bytes, at, checksum * 4);
    at += checksum * 4;
    frames.push({
      start,
      end: at,
      skippable: false,
      contentSize: fcs,
      outputBytesMax: fcs ?? bound,
    });
  }
  return frames;
}

function checkBound(frames: ZstdFrame[], max: number): void {
  let total = 0;
  for (const f of frames) total += f.contentSize ?? 0;
  if (total > max) {
    corrupt(`declared size ${total} exceeds ${max}`, { total, max });
  }
}

function checkLevel(level: number): void {
  assert(
    Number.isInteger(level) && level >= -7 && level <= 22,
    "zstd level must be an integer in -7..22",
  );
}

class ZstdWasmCodec implements Codec {
  readonly name = "zstd-wasm";
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  compress(bytes: Uint8Array, level: number): Uint8Array {
    checkLevel(level);
    return zstdWasm.compress(bytes, level);
  }

  decompress(bytes: Uint8Array): Uint8Array {
    const frames = zstdFrames(bytes);
    checkBound(frames, this.#max);
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const f of frames) {
      if (f.skippable) continue;
      // zstd-wasm sizes its output from the header's content size, or from
      // defaultHeapSize when the header has none: pass our block bound.
      const heap = Math.max(1, Math.min(f.outputBytesMax, this.#max - total));
      let out: Uint8Array;
      try {
        out = zstdWasm.decompress(bytes.subarray(f.start, f.end), {
          defaultHeapSize: heap,
        });
      } catch (cause) {
        throw new StreamError(
          "corrupt",
          `Cannot decompress zstd frame at byte ${f.start}: decoder failed`,
          { start: f.start },
          { cause },
        );
      }
      if (f.contentSize !== null && out.length !== f.contentSize) {
        corrupt("content size mismatch", { start: f.start });
      }
      total += out.length;
      parts.push(out);
    }
    return parts.length === 0 ? new Uint8Array(0) : concatBytes(parts);
  }
}

class NodeZstdCodec implements Codec {
  readonly name = "node-zlib-zstd";
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  compress(bytes: Uint8Array, level: number): Uint8Array {
    checkLevel(level);
    // pledgedSrcSize (Node's runtime option, absent from Deno's typings)
    // puts the content size in the frame header, so zstd-wasm can size its
    // output exactly.
    const options: zlib.ZstdOptions & { pledgedSrcSize: number } = {
      pledgedSrcSize: bytes.length,
      params: { [zlib.constants.ZSTD_c_compressionLevel]: level },
    };
    const out = zlib.zstdCompressSync(bytes, options);
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }

  decompress(bytes: Uint8Array): Uint8Array {
    const frames = zstdFrames(bytes);
    checkBound(frames, this.#max);
    // One frame per call: node:zlib stops at a skippable frame.
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const f of frames) {
      if (f.skippable) continue;
      let out: Uint8Array;
      try {
        out = zlib.zstdDecompressSync(bytes.subarray(f.start, f.end), {
          maxOutputLength: Math.max(1, this.#max - total),
        });
      } catch (cause) {
        throw new StreamError(
          "corrupt",
          `Cannot decompress zstd frame at byte ${f.start}: decoder failed`,
          { start: f.start },
          { cause },
        );
      }
      if (f.contentSize !== null && out.length !== f.contentSize) {
        corrupt("content size mismatch", { start: f.start });
      }
      total += out.length;
      parts.push(new Uint8Array(out.buffer, out.byteOffset, out.length));
    }
    return parts.length === 0 ? new Uint8Array(0) : concatBytes(parts);
  }
}

/** The `@bokuweb/zstd-wasm` codec; awaits its one-time WASM init. */
export async function createZstdWasmCodec(
  options: CodecOptions = {},
): Promise<Codec> {
  await zstdWasm.init();
  return new ZstdWasmCodec(
    options.decompressedBytesMax ?? DECOMPRESSED_BYTES_MAX_DEFAULT,
  );
}

/** The codec on Deno's native `node:zlib` zstd (synchronous, no init). */
export function createNodeZstdCodec(options: CodecOptions = {}): Codec {
  return new NodeZstdCodec(
    options.decompressedBytesMax ?? DECOMPRESSED_BYTES_MAX_DEFAULT,
  );
}
