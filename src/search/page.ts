/**
 * @module
 * One page of search hits over records already extracted: match, score,
 * skip up to `search_after`, keep the best `size` in a top-k heap. The same
 * function serves index candidates and the scanned tail alike.
 */

import type { SearchConfig } from "./config.ts";
import type { Plan } from "./compile.ts";
import { type CorpusStats, matches, score } from "./evaluate.ts";
import type { ExtractedDoc } from "./extract.ts";
import {
  type Hit,
  isAfter,
  type SortKey,
  type SortValue,
  sortValues,
  TopK,
} from "./sort.ts";

/** A record to rank: its offset and extracted fields. */
export interface Candidate {
  /** Fixed-width offset string. */
  offset: string;
  /** Extracted search fields. */
  doc: ExtractedDoc;
}

/** What a page needs besides the records. */
export interface PageOptions {
  /** Sort keys (from `parseSort`). */
  keys: readonly SortKey[];
  /** Page size, 1..500. */
  size: number;
  /** Position to continue after (from `parseSearchAfter`). */
  after?: readonly SortValue[];
  /** Corpus statistics for BM25. */
  stats: CorpusStats;
}

/** A page of hits, best first, and the paging key when the page is full. */
export interface Page {
  /** At most `size` hits. */
  hits: Hit[];
  /** The last hit's sort values when the page is full, else null. */
  nextSearchAfter: SortValue[] | null;
}

/** Ranks `records` under `plan` and returns one page. */
export function searchPage(
  config: SearchConfig,
  plan: Plan,
  records: Iterable<Candidate>,
  options: PageOptions,
): Page {
  const top = new TopK(options.keys, options.size);
  for (const { offset, doc } of records) {
    if (!matches(config, plan, doc)) continue;
    const s = score(config, plan, doc, options.stats);
    const sort = sortValues(options.keys, doc, offset, s);
    if (!isAfter(options.keys, sort, options.after)) continue;
    top.push({ offset, score: s, sort });
  }
  const hits = top.sorted();
  const full = hits.length === options.size;
  return { hits, nextSearchAfter: full ? hits[hits.length - 1].sort : null };
}
