/**
 * @module
 * Sorting search hits (specs/search.md §3): sort keys from a request, the
 * default sort, sort values of a record (dates as epoch ms, offsets as
 * strings, missing values last in both directions), `search_after` paging
 * keys, and a bounded top-k heap so a search never holds more than a page.
 */

import { assert } from "../assert.ts";
import { fail, ok, type Result } from "../errors.ts";
import { fieldOf, resolveFieldName, type SearchConfig } from "./config.ts";
import {
  canonicalize,
  type ExtractedDoc,
  type Scalar,
  scalarToJson,
} from "./extract.ts";
import { compareScalars } from "./evaluate.ts";

/** One sort key: a declared field, the score, or the record offset. */
export interface SortKey {
  /** A declared field name, `_score` or `offset`. */
  key: string;
  /** Direction. */
  order: "asc" | "desc";
}

/** A sort value; `null` when the record has no value for the key. */
export type SortValue = Scalar | null;

/** A ranked record: its offset, score and sort values. */
export interface Hit {
  /** The record's offset (fixed-width, so string order is offset order). */
  offset: string;
  /** Its score (0 without text clauses). */
  score: number;
  /** One value per sort key. */
  sort: SortValue[];
}

/**
 * Sort keys for a request. Without `sort`, `offset:desc` when the query has
 * no text clause, else `_score:desc, <primaryTimestampField>:desc,
 * offset:desc`. `offset` is appended as the final tiebreaker when missing,
 * in the direction of the last key (so `ts:asc` pages run oldest first).
 */
export function parseSort(
  config: SearchConfig,
  sort: readonly string[] | undefined,
  hasText: boolean,
): Result<SortKey[]> {
  if (sort === undefined) return ok(defaultSort(config, hasText));
  const keys: SortKey[] = [];
  for (const item of sort) {
    const parsed = sortItem(config, item);
    if (!parsed.ok) return parsed;
    if (keys.some((k) => k.key === parsed.value.key)) {
      return fail(
        "bad_request",
        `Invalid sort: "${parsed.value.key}" appears twice`,
      );
    }
    keys.push(parsed.value);
  }
  if (keys.length === 0) return fail("bad_request", "Invalid sort: empty");
  if (!keys.some((k) => k.key === "offset")) {
    keys.push({ key: "offset", order: keys[keys.length - 1].order });
  }
  return ok(keys);
}

function defaultSort(config: SearchConfig, hasText: boolean): SortKey[] {
  if (!hasText) return [{ key: "offset", order: "desc" }];
  const keys: SortKey[] = [{ key: "_score", order: "desc" }];
  if (config.primaryTimestampField !== undefined) {
    keys.push({ key: config.primaryTimestampField, order: "desc" });
  }
  keys.push({ key: "offset", order: "desc" });
  return keys;
}

function sortItem(config: SearchConfig, item: string): Result<SortKey> {
  const colon = item.lastIndexOf(":");
  const name = colon < 0 ? item : item.slice(0, colon);
  const direction = colon < 0 ? "desc" : item.slice(colon + 1);
  if (direction !== "asc" && direction !== "desc") {
    return fail(
      "bad_request",
      `Invalid sort "${item}": direction must be asc or desc`,
    );
  }
  if (name === "_score" || name === "offset") {
    return ok({ key: name, order: direction });
  }
  const field = resolveFieldName(config, name);
  if (field === undefined) {
    return fail("bad_request", `Invalid sort: field "${name}" is not indexed`);
  }
  const sortable = fieldOf(config.fields, field)?.sortable === true ||
    field === config.primaryTimestampField;
  if (!sortable) {
    return fail(
      "bad_request",
      `Invalid sort: field "${field}" is not sortable`,
    );
  }
  return ok({ key: field, order: direction });
}

/** A record's sort values: the smallest value ascending, the largest descending. */
export function sortValues(
  keys: readonly SortKey[],
  doc: ExtractedDoc,
  offset: string,
  score: number,
): SortValue[] {
  return keys.map(({ key, order }) => {
    if (key === "_score") return score;
    if (key === "offset") return offset;
    const values = doc.values.get(key);
    if (values === undefined || values.length === 0) return null;
    let best = values[0];
    for (const value of values) {
      const c = compareScalars(value, best);
      if (order === "asc" ? c < 0 : c > 0) best = value;
    }
    return best;
  });
}

/** Orders two sort-value rows under `keys`; missing values sort last either way. */
export function compareSortValues(
  keys: readonly SortKey[],
  a: readonly SortValue[],
  b: readonly SortValue[],
): number {
  assert(
    a.length === keys.length && b.length === keys.length,
    "one sort value per key",
  );
  for (let i = 0; i < keys.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === null || y === null) {
      if (x === y) continue;
      return x === null ? 1 : -1;
    }
    const c = compareScalars(x, y);
    if (c !== 0) return keys[i].order === "asc" ? c : -c;
  }
  return 0;
}

/** Sort values as JSON: integers beyond 2^53 become strings. */
export function sortValuesToJson(
  values: readonly SortValue[],
): (string | number | boolean | null)[] {
  return values.map((v) => v === null ? null : scalarToJson(v));
}

/**
 * Reads a client's `search_after`: one value per sort key, as
 * `next_search_after` returned it; field values are canonicalized by kind.
 */
export function parseSearchAfter(
  config: SearchConfig,
  keys: readonly SortKey[],
  raw: unknown,
): Result<SortValue[]> {
  if (!Array.isArray(raw) || raw.length !== keys.length) {
    return fail(
      "bad_request",
      `Invalid search_after: expected an array of ${keys.length} values`,
    );
  }
  const values: SortValue[] = [];
  for (let i = 0; i < keys.length; i++) {
    const value = afterValue(config, keys[i].key, raw[i]);
    if (value === undefined) {
      return fail(
        "bad_request",
        `Invalid search_after[${i}] for sort key "${keys[i].key}"`,
      );
    }
    values.push(value);
  }
  return ok(values);
}

function afterValue(
  config: SearchConfig,
  key: string,
  raw: unknown,
): SortValue | undefined {
  if (raw === null) {
    return key === "_score" || key === "offset" ? undefined : null;
  }
  if (key === "_score") {
    return typeof raw === "number" && Number.isFinite(raw) ? raw : undefined;
  }
  if (key === "offset") return typeof raw === "string" ? raw : undefined;
  const field = fieldOf(config.fields, key);
  assert(field !== undefined, "sort keys name declared fields");
  return canonicalize(field, raw);
}

/** Whether `hit` comes strictly after the `search_after` position. */
export function isAfter(
  keys: readonly SortKey[],
  hit: readonly SortValue[],
  after: readonly SortValue[] | undefined,
): boolean {
  return after === undefined || compareSortValues(keys, hit, after) > 0;
}

/** The `size` first hits in sort order, holding no more than `size` at a time. */
export class TopK {
  readonly #keys: readonly SortKey[];
  readonly #size: number;
  // A binary heap whose root is the worst hit kept.
  readonly #heap: Hit[] = [];

  /** Keeps the first `size` hits under `keys`. */
  constructor(keys: readonly SortKey[], size: number) {
    assert(Number.isSafeInteger(size) && size > 0, "top-k size is positive");
    this.#keys = keys;
    this.#size = size;
  }

  #worse(a: Hit, b: Hit): boolean {
    return compareSortValues(this.#keys, a.sort, b.sort) > 0;
  }

  /** Offers a hit; kept only if among the best `size` so far. */
  push(hit: Hit): void {
    const heap = this.#heap;
    if (heap.length < this.#size) {
      heap.push(hit);
      let i = heap.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.#worse(heap[i], heap[parent])) break;
        [heap[i], heap[parent]] = [heap[parent], heap[i]];
        i = parent;
      }
    } else if (this.#worse(heap[0], hit)) {
      heap[0] = hit;
      this.#siftDown();
    }
  }

  #siftDown(): void {
    const heap = this.#heap;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let worst = i;
      if (left < heap.length && this.#worse(heap[left], heap[worst])) {
        worst = left;
      }
      if (right < heap.length && this.#worse(heap[right], heap[worst])) {
        worst = right;
      }
      if (worst === i) return;
      [heap[i], heap[worst]] = [heap[worst], heap[i]];
      i = worst;
    }
  }

  /** Hits kept so far. */
  get length(): number {
    return this.#heap.length;
  }

  /** The kept hits, best first. */
  sorted(): Hit[] {
    return [...this.#heap].sort((a, b) =>
      compareSortValues(this.#keys, a.sort, b.sort)
    );
  }
}
