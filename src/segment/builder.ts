/**
 * @module
 * Writes sealed segments to local disk so a crash never leaves a partial
 * file under a segment's name: encode, write a temp file beside the target,
 * fsync its data, rename it into place, fsync the directory. Also opens a
 * segment file as a `RangeSource` for `openSegment`.
 */

import { basename, dirname, join } from "node:path";
import { assert } from "../assert.ts";
import { StreamError } from "../errors.ts";
import {
  type ChunkInput,
  encodeSegment,
  type EncodeSegmentOptions,
  type RangeSource,
  type SegmentRecordInput,
} from "./format.ts";

/** What `buildSegmentFile` wrote. */
export interface BuiltSegment {
  /** Final path. */
  path: string;
  /** File size in bytes. */
  sizeBytes: number;
}

/** Encodes `input` and writes it to `path` atomically and durably. */
export async function buildSegmentFile(
  path: string,
  input: Iterable<SegmentRecordInput | ChunkInput>,
  options: EncodeSegmentOptions,
): Promise<BuiltSegment> {
  const bytes = encodeSegment(input, options);
  await writeFileDurably(path, bytes);
  return { path, sizeBytes: bytes.length };
}

/**
 * Writes `bytes` to `path` through a temp file in the same directory
 * (fsync, rename, directory fsync). On failure the temp file is removed and
 * an `unavailable` StreamError carries the cause; `path` is untouched.
 */
export async function writeFileDurably(
  path: string,
  bytes: Uint8Array,
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${crypto.randomUUID()}.tmp`);
  try {
    {
      using file = await Deno.open(tmp, { write: true, createNew: true });
      let at = 0;
      while (at < bytes.length) at += await file.write(bytes.subarray(at));
      await file.syncData();
    }
    await Deno.rename(tmp, path);
  } catch (cause) {
    await Deno.remove(tmp).catch(() => {});
    throw new StreamError(
      "unavailable",
      `Cannot write segment file "${path}": ${errorMessage(cause)}`,
      { path },
      { cause },
    );
  }
  await syncDir(dir);
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Fsyncs `dir` so the rename survives power loss, where the OS allows it. */
async function syncDir(dir: string): Promise<void> {
  try {
    using d = await Deno.open(dir, { read: true });
    await d.sync();
  } catch {
    // Some platforms cannot open or fsync a directory; the rename stands.
  }
}

/** A segment file opened for ranged reads; dispose it to close the file. */
export interface SegmentFile extends RangeSource, Disposable {
  /** Closes the file. */
  close(): void;
}

/**
 * Opens `path` as a `RangeSource`. Reads run one at a time on one handle
 * (seek then read), so concurrent callers never interleave a seek.
 */
export async function openSegmentFile(path: string): Promise<SegmentFile> {
  const file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  let queue: Promise<unknown> = Promise.resolve();
  const readAt = async (offset: number, length: number) => {
    assert(offset >= 0 && offset + length <= size, "read within the file");
    const out = new Uint8Array(length);
    await file.seek(offset, Deno.SeekMode.Start);
    let at = 0;
    while (at < length) {
      const n = await file.read(out.subarray(at));
      if (n === null) break;
      at += n;
    }
    return at === length ? out : out.subarray(0, at);
  };
  const close = () => file.close();
  return {
    size,
    read(offset: number, length: number): Promise<Uint8Array> {
      const result = queue.then(() => readAt(offset, length));
      queue = result.catch(() => {});
      return result;
    },
    close,
    [Symbol.dispose]: close,
  };
}
