/**
 * @module
 * An `ObjectStore` in a local folder, the default tier below the WAL. A key's
 * path segments become directories ending in ".d" and a file ending in ".o",
 * each segment percent-encoded, so keys "a" and "a/b" never collide and no key
 * escapes the root. A put writes a temp file, fsyncs it, renames it into
 * place and fsyncs the directory, so readers see the old object or the new.
 */

import { join } from "node:path";
import { StreamError } from "../errors.ts";
import {
  checkKey,
  checkPrefix,
  checkRange,
  compareKeys,
  etagOf,
  type ListPage,
  type ObjectHead,
  type ObjectStore,
  page,
  pageKeysMax,
  unavailable,
} from "./object_store.ts";

/** Options of `FsObjectStore`. */
export interface FsObjectStoreOptions {
  /** Folder holding the objects; created when missing. */
  root: string;
  /** Keys per `list` page (1..1000). @default {1000} */
  listPageKeysMax?: number;
}

const FILE_SUFFIX = ".o";
const DIR_SUFFIX = ".d";
const TMP_DIR = ".tmp";
const NAME_BYTES_MAX = 255;

function encodeSegment(part: string): string {
  return encodeURIComponent(part).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The file path of `key` under `root` (exported for tests). */
export function keyPath(root: string, key: string): string {
  checkKey(key);
  const parts = key.split("/");
  const names = parts.map((p, i) =>
    encodeSegment(p) + (i === parts.length - 1 ? FILE_SUFFIX : DIR_SUFFIX)
  );
  for (const name of names) {
    if (name.length > NAME_BYTES_MAX) {
      throw new StreamError(
        "bad_request",
        `Invalid object key "${key}": a path segment is too long`,
      );
    }
  }
  return join(root, ...names);
}

function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

/** An `ObjectStore` in a folder on the local file system. */
export class FsObjectStore implements ObjectStore {
  readonly #root: string;
  readonly #pageKeysMax: number;

  /** Uses (and creates on first put) the folder `options.root`. */
  constructor(options: FsObjectStoreOptions) {
    this.#root = options.root;
    this.#pageKeysMax = pageKeysMax(options.listPageKeysMax);
  }

  /** Writes atomically: temp file, fsync, rename, directory fsync. */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    const path = keyPath(this.#root, key);
    const dir = join(path, "..");
    const tmpDir = join(this.#root, TMP_DIR);
    const tmp = join(tmpDir, `${crypto.randomUUID()}.tmp`);
    try {
      await Deno.mkdir(dir, { recursive: true });
      await Deno.mkdir(tmpDir, { recursive: true });
      using file = await Deno.open(tmp, { write: true, createNew: true });
      await writeAll(file, bytes);
      await file.syncData();
      await Deno.rename(tmp, path);
      await syncDir(dir);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw unavailable("put", key, e);
    }
  }

  /** The whole object. */
  async get(key: string): Promise<Uint8Array | undefined> {
    const path = keyPath(this.#root, key);
    try {
      return await Deno.readFile(path);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw unavailable("get", key, e);
    }
  }

  /** Part of the object, read with one seek. */
  async getRange(
    key: string,
    offset: number,
    length: number,
  ): Promise<Uint8Array | undefined> {
    const path = keyPath(this.#root, key);
    checkRange(offset, length);
    try {
      using file = await Deno.open(path, { read: true });
      const size = (await file.stat()).size;
      const n = Math.max(0, Math.min(length, size - offset));
      const out = new Uint8Array(n);
      if (n === 0) return out;
      await file.seek(offset, Deno.SeekMode.Start);
      let at = 0;
      while (at < n) {
        const got = await file.read(out.subarray(at));
        if (got === null) break;
        at += got;
      }
      return at === n ? out : out.slice(0, at);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw unavailable("read", key, e);
    }
  }

  /** Size and etag; the etag hashes the bytes, so this reads the file. */
  async head(key: string): Promise<ObjectHead | undefined> {
    const bytes = await this.get(key);
    return bytes === undefined
      ? undefined
      : { size: bytes.length, etag: etagOf(bytes) };
  }

  /** Walks the deepest folder the prefix names, sorts, pages. */
  async list(prefix: string, continuation?: string): Promise<ListPage> {
    checkPrefix(prefix);
    const slash = prefix.lastIndexOf("/");
    const dirParts = slash < 0 ? [] : prefix.slice(0, slash).split("/");
    const start = join(
      this.#root,
      ...dirParts.map((p) => encodeSegment(p) + DIR_SUFFIX),
    );
    const base = slash < 0 ? "" : prefix.slice(0, slash + 1);
    const keys: string[] = [];
    try {
      await walk(start, base, keys);
    } catch (e) {
      throw unavailable("list", prefix, e);
    }
    const selected = keys.filter((k) =>
      k.startsWith(prefix) &&
      (continuation === undefined || compareKeys(k, continuation) > 0)
    ).sort(compareKeys);
    return page(selected, this.#pageKeysMax);
  }

  /** Removes the file (empty folders stay: a concurrent put may use them). */
  async delete(key: string): Promise<void> {
    const path = keyPath(this.#root, key);
    try {
      await Deno.remove(path);
    } catch (e) {
      if (!isNotFound(e)) throw unavailable("delete", key, e);
    }
  }
}

async function walk(dir: string, base: string, out: string[]): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (isNotFound(e)) return;
    throw e;
  }
  for (const entry of entries) {
    const name = entry.name;
    if (entry.isDirectory && name.endsWith(DIR_SUFFIX)) {
      const part = decodeURIComponent(name.slice(0, -DIR_SUFFIX.length));
      await walk(join(dir, name), `${base}${part}/`, out);
    } else if (entry.isFile && name.endsWith(FILE_SUFFIX)) {
      out.push(base + decodeURIComponent(name.slice(0, -FILE_SUFFIX.length)));
    }
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await file.write(bytes.subarray(at));
}

/** Fsyncs a directory so a rename in it survives power loss, where allowed. */
async function syncDir(dir: string): Promise<void> {
  try {
    using d = await Deno.open(dir, { read: true });
    await d.sync();
  } catch {
    // Some platforms cannot open or fsync a directory; the rename stands.
  }
}
