/**
 * @module
 * An in-memory `ObjectStore` for tests and single-process experiments. It
 * copies bytes in and out, so callers can never alias stored objects, and
 * pages `list` with the last returned key as its continuation token.
 */

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
} from "./object_store.ts";

/** Options of `MemoryObjectStore`. */
export interface MemoryObjectStoreOptions {
  /** Keys per `list` page (1..1000). @default {1000} */
  listPageKeysMax?: number;
}

interface Entry {
  bytes: Uint8Array;
  etag: string;
}

/** An `ObjectStore` held in a Map. */
export class MemoryObjectStore implements ObjectStore {
  readonly #objects = new Map<string, Entry>();
  readonly #pageKeysMax: number;

  /** Creates an empty store. */
  constructor(options: MemoryObjectStoreOptions = {}) {
    this.#pageKeysMax = pageKeysMax(options.listPageKeysMax);
  }

  /** Stores a copy of `bytes`. */
  put(key: string, bytes: Uint8Array): Promise<void> {
    return settle(() => {
      checkKey(key);
      const copy = bytes.slice();
      this.#objects.set(key, { bytes: copy, etag: etagOf(copy) });
    });
  }

  /** A copy of the object. */
  get(key: string): Promise<Uint8Array | undefined> {
    return settle(() => {
      checkKey(key);
      return this.#objects.get(key)?.bytes.slice();
    });
  }

  /** A copy of part of the object. */
  getRange(
    key: string,
    offset: number,
    length: number,
  ): Promise<Uint8Array | undefined> {
    return settle(() => {
      checkKey(key);
      checkRange(offset, length);
      return this.#objects.get(key)?.bytes.slice(offset, offset + length);
    });
  }

  /** Size and etag. */
  head(key: string): Promise<ObjectHead | undefined> {
    return settle(() => {
      checkKey(key);
      const e = this.#objects.get(key);
      return e === undefined
        ? undefined
        : { size: e.bytes.length, etag: e.etag };
    });
  }

  /** Sorted keys after the continuation key. */
  list(prefix: string, continuation?: string): Promise<ListPage> {
    return settle(() => {
      checkPrefix(prefix);
      const keys = [...this.#objects.keys()]
        .filter((k) =>
          k.startsWith(prefix) &&
          (continuation === undefined || compareKeys(k, continuation) > 0)
        )
        .sort(compareKeys);
      return page(keys, this.#pageKeysMax);
    });
  }

  /** Removes the object. */
  delete(key: string): Promise<void> {
    return settle(() => {
      checkKey(key);
      this.#objects.delete(key);
    });
  }
}

/** Runs `fn` now; its result or throw becomes a settled promise. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}
