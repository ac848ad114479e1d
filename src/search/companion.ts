/**
 * @module
 * The companion object of one uploaded segment: per block of records, what
 * search fields it holds, so a query can skip blocks (and whole segments)
 * that cannot match. Little-endian; a header with the block table and a
 * section table, each section guarded by its own CRC32C (docs/companions.md).
 *
 * Sections: `exact` (keyword, integer and bool fields: sorted terms, each
 * with the blocks holding it), `col` (integer, float and date fields: min
 * and max per block) and `fts` (text fields: analyzed terms with their
 * blocks and document counts). Every field also has a presence bitmap.
 *
 * Pruning is conservative: `candidateBlocks` returns every block that may
 * hold a match, never fewer; whatever it cannot decide counts as a match.
 */

import { crc32c } from "../_wasm/checksum.ts";
import { createNodeZstdCodec } from "../_wasm/codec.ts";
import { COMPANION_SECTION_BYTES_MAX } from "../limits.ts";
import { fieldOf, type SearchConfig } from "./config.ts";
import type { Plan } from "./compile.ts";
import { compareHolds, compareScalars } from "./evaluate.ts";
import { type ExtractedDoc, normalizeKeyword, type Scalar } from "./extract.ts";
import { TextTermTable } from "./_text_terms.ts";
import { CompanionError, Reader, Writer } from "./_section_bytes.ts";
import {
  bitmapBytes,
  type TermBlocks,
  TermBlocksBuilder,
} from "./_term_blocks.ts";
import {
  type AggSection,
  decodeAggSection,
  encodeAggSection,
  RollupBuilder,
} from "./rollup_section.ts";

/** First four bytes of a companion object: "SBCP". */
export const COMPANION_MAGIC = 0x50434253;
/** Format version written: sections zstd-compressed, term lists by column. */
export const COMPANION_VERSION = 3;
/** The first format version (sections stored raw), still read. */
export const COMPANION_VERSION_RAW = 1;

/**
 * Whether a version stores its sections compressed, with column-wise term
 * lists; versions 1 and 2 (2 adds sections, same layout) store them raw.
 */
function packed(version: number): boolean {
  return version >= 3;
}

// zstd on the native binding: synchronous, so builds and reads stay so.
const codec = createNodeZstdCodec({
  decompressedBytesMax: COMPANION_SECTION_BYTES_MAX,
});
/** zstd level of sections (1 measured both faster and smaller than 3 here). */
const SECTION_ZSTD_LEVEL = 1;

/** One block of records: a contiguous run of whole records of the segment. */
export interface CompanionBlock {
  /** Position of the block's first record. */
  startPos: number;
  /** Position after its last record. */
  endPos: number;
  /** Records in the block. */
  records: number;
}

/** Terms of one field and the blocks holding each. */
export interface TermField {
  /** Blocks where the field has a value. */
  present: Uint8Array;
  /** Terms in ascending order (`compareScalars`). */
  terms: Scalar[];
  /** Blocks per term, same order (lists for rare terms, else bitmaps). */
  blocks: TermBlocks;
  /** Records per term (fts only; 0 in `exact`). */
  docs: number[];
}

/** Min and max per block of one numeric field (`NaN`: no value). */
export interface ColumnField {
  /** Blocks where the field has a value. */
  present: Uint8Array;
  /** Smallest value per block. */
  min: Float64Array;
  /** Largest value per block. */
  max: Float64Array;
}

/** A decoded companion. */
export interface Companion {
  /** Search plan generation it was built for. */
  generation: number;
  /** Segment bounds. */
  startPos: number;
  endPos: number;
  /** Blocks in position order, covering the segment. */
  blocks: CompanionBlock[];
  /** `exact` section by field. */
  exact: Map<string, TermField & { kind: "keyword" | "integer" | "bool" }>;
  /** `col` section by field. */
  col: Map<string, ColumnField>;
  /** `fts` section by field, with the field's total token count. */
  fts: Map<string, TermField & { tokens: number }>;
  /** `agg` section: rollup tables by rollup and interval. */
  agg: AggSection;
}

/** One record given to the builder: its bounds and its extracted fields. */
export interface CompanionRecord {
  startPos: number;
  endPos: number;
  doc: ExtractedDoc;
  /** A later message of the same stored record: never starts a block. */
  joinsPrevious?: boolean;
  /** The parsed record (rollup `summary_parts` measures read it). */
  record?: unknown;
}

/** Builds the companion of the records of one segment, in position order. */
export function buildCompanion(
  config: SearchConfig,
  generation: number,
  segment: { startPos: number; endPos: number },
  records: Iterable<CompanionRecord>,
  blockBytes: number,
): Companion {
  const blocks: CompanionBlock[] = [];
  // One pass over the records feeds every field's accumulator; bitmaps are
  // made once the block count is known.
  const fields = fieldBuilders(config);
  let current: CompanionBlock | undefined;
  let b = -1;
  let docIndex = 0;
  const rollups = new RollupBuilder(config);
  for (const r of records) {
    rollups.add(r.doc, r.record);
    if (
      current === undefined ||
      (r.joinsPrevious !== true &&
        current.endPos - current.startPos >= blockBytes)
    ) {
      current = { startPos: r.startPos, endPos: r.endPos, records: 0 };
      blocks.push(current);
      b++;
    }
    current.endPos = r.endPos;
    current.records++;
    docIndex++;
    const values = r.doc.values;
    for (const f of fields) {
      const found = values.get(f.name);
      if (found === undefined) continue;
      f.terms?.addValues(found, b, docIndex);
      f.column?.add(found, b);
      if (f.text !== undefined) {
        // Text values are analyzed here, straight into the dictionary.
        for (const value of found) {
          if (typeof value !== "string") continue;
          f.tokens += f.text.addText(value, b, docIndex);
        }
        f.present!.mark(b);
      }
    }
  }
  // Blocks cover the segment: the first starts at its start, the last ends at its end.
  if (blocks.length > 0) {
    blocks[0].startPos = segment.startPos;
    blocks[blocks.length - 1].endPos = segment.endPos;
    for (let i = 1; i < blocks.length; i++) {
      blocks[i - 1].endPos = blocks[i].startPos;
    }
  }
  const n = blocks.length;
  const out: Companion = {
    generation,
    startPos: segment.startPos,
    endPos: segment.endPos,
    blocks,
    exact: new Map(),
    col: new Map(),
    fts: new Map(),
    agg: rollups.finish(),
  };
  for (const f of fields) {
    if (f.terms !== undefined) {
      const kind = f.kind as "keyword" | "integer" | "bool";
      out.exact.set(f.name, { kind, ...f.terms.finish(n, false) });
    }
    if (f.column !== undefined) out.col.set(f.name, f.column.finish(n));
    if (f.text !== undefined) {
      out.fts.set(f.name, {
        ...termField(f.present!.bits(n), f.text.entries(), n, true),
        tokens: f.tokens,
      });
    }
  }
  return out;
}

interface FieldBuilder {
  name: string;
  kind: string;
  /** `exact`: keyword, integer and bool values. */
  terms?: TermBuilder;
  /** `col`: integer, float and date values. */
  column?: ColumnBuilder;
  /** `fts`: text tokens, the blocks with a value, the total token count. */
  text?: TextTermTable;
  present?: BlockList;
  tokens: number;
}

function fieldBuilders(config: SearchConfig): FieldBuilder[] {
  const out: FieldBuilder[] = [];
  for (const [name, field] of Object.entries(config.fields)) {
    const kind = field.kind;
    out.push({
      name,
      kind,
      terms: kind === "keyword" || kind === "integer" || kind === "bool"
        ? new TermBuilder()
        : undefined,
      column: kind === "integer" || kind === "float" || kind === "date"
        ? new ColumnBuilder()
        : undefined,
      text: kind === "text" ? new TextTermTable() : undefined,
      present: kind === "text" ? new BlockList() : undefined,
      tokens: 0,
    });
  }
  return out;
}

function bitmap(blocks: number): Uint8Array {
  return new Uint8Array((blocks + 7) >> 3);
}

function setBit(bits: Uint8Array, i: number): void {
  bits[i >> 3] |= 1 << (i & 7);
}

/** Whether block `i` is set in `bits`. */
export function hasBit(bits: Uint8Array, i: number): boolean {
  return (bits[i >> 3] & (1 << (i & 7))) !== 0;
}

function termKey(v: Scalar): string {
  return typeof v === "bigint" ? `i${v}` : `${typeof v}:${String(v)}`;
}

/** One term while building: the blocks holding it (ascending) and its records. */
interface TermEntry {
  term: Scalar;
  /** Blocks holding the term, each once, ascending. */
  blocks: number[];
  docs: number;
  lastDoc?: number;
}

/** Blocks in ascending order, each once, fed in block order. */
class BlockList {
  readonly #blocks: number[] = [];

  mark(b: number): void {
    const blocks = this.#blocks;
    if (blocks.length === 0 || blocks[blocks.length - 1] !== b) blocks.push(b);
  }

  bits(n: number): Uint8Array {
    const bits = bitmap(n);
    for (const b of this.#blocks) setBit(bits, b);
    return bits;
  }
}

/** The values of one `exact` field and where they occur, fed in block order. */
class TermBuilder {
  // Values of one field share a kind, so strings can be their own key.
  readonly #byTerm = new Map<string, TermEntry>();
  readonly #present = new BlockList();

  addValues(values: readonly Scalar[], b: number, doc: number): void {
    this.#present.mark(b);
    for (const value of values) {
      const key = typeof value === "string" ? value : termKey(value);
      let entry = this.#byTerm.get(key);
      if (entry === undefined) {
        entry = { term: value, blocks: [b], docs: 1, lastDoc: doc };
        this.#byTerm.set(key, entry);
        continue;
      }
      const blocks = entry.blocks;
      if (blocks[blocks.length - 1] !== b) blocks.push(b);
      if (entry.lastDoc !== doc) {
        entry.lastDoc = doc;
        entry.docs++;
      }
    }
  }

  finish(n: number, withDocs: boolean): TermField {
    return termField(
      this.#present.bits(n),
      [...this.#byTerm.values()],
      n,
      withDocs,
    );
  }
}

/** A field's terms sorted, each with its block bitmap (and record count). */
function termField(
  present: Uint8Array,
  entries: TermEntry[],
  n: number,
  withDocs: boolean,
): TermField {
  const stringsOnly = entries.every((e) => typeof e.term === "string");
  entries.sort(
    stringsOnly
      ? (x, y) => (x.term < y.term ? -1 : x.term > y.term ? 1 : 0)
      : (x, y) => compareScalars(x.term, y.term),
  );
  const terms: Scalar[] = new Array(entries.length);
  const blocks = new TermBlocksBuilder(n);
  const docs: number[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    blocks.addList(e.blocks);
    terms[i] = e.term;
    docs[i] = withDocs ? e.docs : 0;
  }
  return { present, terms, blocks: blocks.finish(), docs };
}

/** Min and max per block of one numeric field while building. */
class ColumnBuilder {
  readonly #present: number[] = [];
  readonly #min: number[] = [];
  readonly #max: number[] = [];

  add(values: readonly Scalar[], b: number): void {
    for (const v of values) {
      let lo: number;
      let hi: number;
      if (typeof v === "bigint") {
        const x = Number(v);
        // Beyond 2^53 the conversion rounds: widen to be safe.
        lo = Number.isSafeInteger(x) ? x : -Infinity;
        hi = Number.isSafeInteger(x) ? x : Infinity;
      } else if (typeof v === "number") {
        lo = hi = v;
      } else {
        this.#mark(b);
        continue;
      }
      this.#mark(b);
      if (Number.isNaN(this.#min[b]) || lo < this.#min[b]) this.#min[b] = lo;
      if (Number.isNaN(this.#max[b]) || hi > this.#max[b]) this.#max[b] = hi;
    }
  }

  #mark(b: number): void {
    const present = this.#present;
    if (present.length === 0 || present[present.length - 1] !== b) {
      present.push(b);
      while (this.#min.length <= b) {
        this.#min.push(NaN);
        this.#max.push(NaN);
      }
    }
  }

  finish(n: number): ColumnField {
    const present = bitmap(n);
    for (const b of this.#present) setBit(present, b);
    const min = new Float64Array(n).fill(NaN);
    const max = new Float64Array(n).fill(NaN);
    for (let b = 0; b < this.#min.length && b < n; b++) {
      min[b] = this.#min[b];
      max[b] = this.#max[b];
    }
    return { present, min, max };
  }
}

// ---------------------------------------------------------------- encoding

export { CompanionError };

const KIND_CODES = { keyword: 0, integer: 1, bool: 2, text: 3 } as const;

function writeTerm(w: Writer, term: Scalar): void {
  w.str(typeof term === "bigint" ? term.toString() : String(term));
}

function readTerm(r: Reader, kind: number): Scalar {
  return termOf(r.str(), kind);
}

function termOf(text: string, kind: number): Scalar {
  if (kind === KIND_CODES.integer) return BigInt(text);
  if (kind === KIND_CODES.bool) return text === "true";
  return text;
}

function writeTerms(
  w: Writer,
  f: TermField,
  kind: number,
  version: number,
): void {
  if (!packed(version)) {
    w.bytes(f.present);
    w.u32(f.terms.length);
    f.terms.forEach((term, i) => {
      writeTerm(w, term);
      w.bytes(f.blocks.bitmapOf(i));
      if (kind === KIND_CODES.text) w.u32(f.docs[i]);
    });
    return;
  }
  // Version 3: column by column (terms, then blocks, then record counts),
  // which compresses far better than one term's parts side by side.
  w.bytes(f.present);
  w.u32(f.terms.length);
  let previous = "";
  for (const term of f.terms) {
    const text = typeof term === "bigint" ? term.toString() : String(term);
    const shared = sharedPrefix(previous, text);
    w.varint(shared);
    w.str(text.slice(shared));
    previous = text;
  }
  for (let i = 0; i < f.blocks.length; i++) writeBlocks(w, f.blocks, i);
  if (kind === KIND_CODES.text) { for (const d of f.docs) w.varint(d); }
}

/**
 * Code units `a` and `b` share at the start, never ending inside a
 * surrogate pair (so both parts stay valid UTF-16).
 */
function sharedPrefix(a: string, b: string): number {
  const max = Math.min(a.length, b.length);
  let n = 0;
  while (n < max && a.charCodeAt(n) === b.charCodeAt(n)) n++;
  if (n > 0 && (a.charCodeAt(n - 1) & 0xfc00) === 0xd800) n--;
  return n;
}

/**
 * Term `i`'s blocks: `k + 1` and the ascending block numbers as deltas
 * when that is shorter (rare terms), else 0 and the bitmap.
 */
function writeBlocks(w: Writer, blocks: TermBlocks, i: number): void {
  const list = blocks.blocksOf(i);
  const k = list.length;
  if (2 * k + 1 >= bitmapBytes(blocks.n)) {
    w.varint(0);
    w.bytes(blocks.bitmapOf(i));
    return;
  }
  w.varint(k + 1);
  let last = 0;
  for (const b of list) {
    w.varint(b - last);
    last = b;
  }
}

function readTerms(
  r: Reader,
  n: number,
  kind: number,
  version: number,
): TermField {
  const size = (n + 7) >> 3;
  const present = r.bytes(size);
  const count = r.u32();
  if (count > r.buf.length) throw new CompanionError("bad term count");
  const terms: Scalar[] = new Array(count);
  const blocks = new TermBlocksBuilder(n);
  const docs: number[] = new Array(count).fill(0);
  if (!packed(version)) {
    for (let i = 0; i < count; i++) {
      terms[i] = readTerm(r, kind);
      blocks.addBitmap(r.bytes(size));
      if (kind === KIND_CODES.text) docs[i] = r.u32();
    }
    return { present, terms, blocks: blocks.finish(), docs };
  }
  let previous = "";
  for (let i = 0; i < count; i++) {
    const shared = r.varint();
    if (shared > previous.length) throw new CompanionError("bad term prefix");
    const text = previous.slice(0, shared) + r.str();
    terms[i] = termOf(text, kind);
    previous = text;
  }
  const list: number[] = [];
  for (let i = 0; i < count; i++) {
    const k = r.varint();
    if (k === 0) {
      blocks.addBitmap(r.bytes(size));
      continue;
    }
    list.length = 0;
    let at = 0;
    for (let j = 1; j < k; j++) {
      const delta = r.varint();
      at += delta;
      // Ascending, each once: a zero delta past the first is damage.
      if (at >= n || (j > 1 && delta === 0)) {
        throw new CompanionError("block out of range");
      }
      list.push(at);
    }
    blocks.addList(list);
  }
  if (kind === KIND_CODES.text) {
    for (let i = 0; i < count; i++) docs[i] = r.varint();
  }
  return { present, terms, blocks: blocks.finish(), docs };
}

/**
 * The companion as bytes, each section zstd-compressed (`version` 1, the
 * raw layout, is for tests of older objects).
 */
export function encodeCompanion(
  c: Companion,
  version: number = COMPANION_VERSION,
): Uint8Array {
  const sections: [string, Uint8Array][] = [];
  const exact = new Writer();
  exact.u32(c.exact.size);
  for (const [name, f] of c.exact) {
    exact.str(name);
    exact.u8(KIND_CODES[f.kind]);
    writeTerms(exact, f, KIND_CODES[f.kind], version);
  }
  sections.push(["exact", exact.done()]);
  const col = new Writer();
  col.u32(c.col.size);
  for (const [name, f] of c.col) {
    col.str(name);
    col.bytes(f.present);
    for (let i = 0; i < c.blocks.length; i++) {
      col.f64(f.min[i]);
      col.f64(f.max[i]);
    }
  }
  sections.push(["col", col.done()]);
  const fts = new Writer();
  fts.u32(c.fts.size);
  for (const [name, f] of c.fts) {
    fts.str(name);
    fts.f64(f.tokens);
    writeTerms(fts, f, KIND_CODES.text, version);
  }
  sections.push(["fts", fts.done()]);
  sections.push(["agg", encodeAggSection(c.agg)]);
  if (packed(version)) {
    for (const s of sections) s[1] = codec.compress(s[1], SECTION_ZSTD_LEVEL);
  }

  const head = new Writer();
  head.u32(COMPANION_MAGIC);
  head.u32(version);
  head.u32(c.generation);
  head.f64(c.startPos);
  head.f64(c.endPos);
  head.u32(c.blocks.length);
  for (const b of c.blocks) {
    head.f64(b.startPos);
    head.u32(b.records);
  }
  head.u32(sections.length);
  // Offsets are relative to the end of the header (its CRC included).
  let offset = 0;
  for (const [name, bytes] of sections) {
    head.str(name);
    head.u32(offset);
    head.u32(bytes.length);
    head.u32(crc32c(bytes));
    offset += bytes.length;
  }
  const header = head.done();
  const all = new Writer();
  all.bytes(header);
  all.u32(crc32c(header));
  for (const [, bytes] of sections) all.bytes(bytes);
  return all.done();
}

/** Reads a companion; throws `CompanionError` on any damage. */
export function decodeCompanion(bytes: Uint8Array): Companion {
  try {
    return decodeChecked(bytes);
  } catch (error) {
    if (error instanceof CompanionError) throw error;
    throw new CompanionError(`unreadable: ${(error as Error).message}`);
  }
}

function decodeChecked(bytes: Uint8Array): Companion {
  const r = new Reader(bytes);
  if (r.u32() !== COMPANION_MAGIC) throw new CompanionError("bad magic");
  const version = r.u32();
  if (version < COMPANION_VERSION_RAW || version > COMPANION_VERSION) {
    throw new CompanionError(`unknown version ${version}`);
  }
  const generation = r.u32();
  const startPos = r.f64();
  const endPos = r.f64();
  const n = r.u32();
  if (n > bytes.length) throw new CompanionError("bad block count");
  const blocks: CompanionBlock[] = [];
  for (let i = 0; i < n; i++) {
    blocks.push({ startPos: r.f64(), endPos, records: r.u32() });
    if (i > 0) blocks[i - 1].endPos = blocks[i].startPos;
  }
  const sectionCount = r.u32();
  const table: { name: string; offset: number; length: number; crc: number }[] =
    [];
  for (let i = 0; i < sectionCount; i++) {
    table.push({
      name: r.str(),
      offset: r.u32(),
      length: r.u32(),
      crc: r.u32(),
    });
  }
  const headerEnd = r.at;
  if (r.u32() !== crc32c(bytes.subarray(0, headerEnd))) {
    throw new CompanionError("header checksum mismatch");
  }
  const body = r.at;
  const out: Companion = {
    generation,
    startPos,
    endPos,
    blocks,
    exact: new Map(),
    col: new Map(),
    fts: new Map(),
    agg: new Map(),
  };
  for (const s of table) {
    const start = body + s.offset;
    if (start + s.length > bytes.length) {
      throw new CompanionError(`section ${s.name} truncated`);
    }
    const stored = bytes.subarray(start, start + s.length);
    if (crc32c(stored) !== s.crc) {
      throw new CompanionError(`section ${s.name} checksum mismatch`);
    }
    // The checksum covers the stored (compressed) bytes.
    const data = !packed(version) ? stored : codec.decompress(stored);
    if (s.name === "agg") {
      out.agg = decodeAggSection(data);
      continue;
    }
    const sr = new Reader(data);
    const fields = sr.u32();
    for (let i = 0; i < fields; i++) {
      const name = sr.str();
      if (s.name === "exact") {
        const code = sr.u8();
        const kind = (["keyword", "integer", "bool"] as const)[code];
        if (kind === undefined) throw new CompanionError("bad field kind");
        out.exact.set(name, { kind, ...readTerms(sr, n, code, version) });
      } else if (s.name === "col") {
        const present = sr.bytes((n + 7) >> 3);
        const min = new Float64Array(n);
        const max = new Float64Array(n);
        for (let b = 0; b < n; b++) {
          min[b] = sr.f64();
          max[b] = sr.f64();
        }
        out.col.set(name, { present, min, max });
      } else if (s.name === "fts") {
        const tokens = sr.f64();
        out.fts.set(name, {
          tokens,
          ...readTerms(sr, n, KIND_CODES.text, version),
        });
      } else break; // an unknown section is ignored
    }
  }
  return out;
}

// ----------------------------------------------------------------- pruning

/** Blocks of `c` that may hold a record matching `plan` (a bit per block). */
export function candidateBlocks(
  config: SearchConfig,
  plan: Plan,
  c: Companion,
): Uint8Array {
  return candidates(config, plan, c, c.blocks.length);
}

function all(n: number): Uint8Array {
  const bits = bitmap(n);
  for (let i = 0; i < n; i++) setBit(bits, i);
  return bits;
}

function and(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((x, i) => x & b[i]);
}

function or(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((x, i) => x | b[i]);
}

function presence(c: Companion, field: string): Uint8Array | undefined {
  return c.exact.get(field)?.present ?? c.col.get(field)?.present ??
    c.fts.get(field)?.present;
}

/** Union of the blocks of the terms of `f` for which `keep` holds. */
function termUnion(
  f: TermField,
  n: number,
  keep: (term: Scalar) => boolean,
): Uint8Array {
  const bits = bitmap(n);
  f.terms.forEach((term, i) => {
    if (keep(term)) f.blocks.orInto(i, bits);
  });
  return bits;
}

/**
 * Union of the blocks of the terms of `f` equal to `wanted`, or starting
 * with it when `prefix`: found by binary search (terms are ascending), so
 * the cost does not grow with the field's terms.
 */
function termsFrom(
  f: TermField,
  n: number,
  wanted: Scalar,
  prefix: boolean,
): Uint8Array {
  const bits = bitmap(n);
  const terms = f.terms;
  let lo = 0;
  let hi = terms.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareScalars(terms[mid], wanted) < 0) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < terms.length; i++) {
    const t = terms[i];
    const hit = prefix
      ? typeof t === "string" && t.startsWith(wanted as string)
      : compareScalars(t, wanted) === 0;
    if (!hit) break;
    f.blocks.orInto(i, bits);
  }
  return bits;
}

function candidates(
  config: SearchConfig,
  plan: Plan,
  c: Companion,
  n: number,
): Uint8Array {
  switch (plan.type) {
    case "and":
      return plan.children.reduce(
        (acc, child) => and(acc, candidates(config, child, c, n)),
        all(n),
      );
    case "or":
      return plan.children.reduce(
        (acc, child) => or(acc, candidates(config, child, c, n)),
        bitmap(n),
      );
    case "not":
      return all(n); // a superset of a child says nothing of its complement
    case "has":
      return presence(c, plan.field) ?? all(n);
    case "compare": {
      const exact = c.exact.get(plan.field);
      if (exact !== undefined && typeof plan.value === typeof exact.terms[0]) {
        if (plan.op === "=") return termsFrom(exact, n, plan.value, false);
        return termUnion(
          exact,
          n,
          (t) => compareHolds(plan.op, compareScalars(t, plan.value)),
        );
      }
      const col = c.col.get(plan.field);
      const v = typeof plan.value === "bigint"
        ? Number(plan.value)
        : plan.value;
      if (
        col === undefined || typeof v !== "number" ||
        (typeof plan.value === "bigint" && !Number.isSafeInteger(v))
      ) {
        return all(n);
      }
      const bits = bitmap(n);
      for (let b = 0; b < n; b++) {
        if (!hasBit(col.present, b)) continue;
        const lo = col.min[b];
        const hi = col.max[b];
        if (Number.isNaN(lo) || Number.isNaN(hi)) {
          setBit(bits, b);
          continue;
        }
        const may = plan.op === "="
          ? lo <= v && v <= hi
          : plan.op === ">"
          ? hi > v
          : plan.op === ">="
          ? hi >= v
          : plan.op === "<"
          ? lo < v
          : lo <= v;
        if (may) setBit(bits, b);
      }
      return bits;
    }
    case "keyword_prefix": {
      const exact = c.exact.get(plan.field);
      if (exact === undefined) return all(n);
      return termsFrom(exact, n, plan.prefix, true);
    }
    case "text": {
      let bits = bitmap(n);
      for (const target of plan.targets) {
        bits = or(bits, textTarget(config, plan, target, c, n));
      }
      return bits;
    }
  }
}

type TextPlan = Extract<Plan, { type: "text" }>;

function textTarget(
  config: SearchConfig,
  plan: TextPlan,
  target: TextPlan["targets"][number],
  c: Companion,
  n: number,
): Uint8Array {
  if (target.kind === "keyword") {
    const declared = fieldOf(config.fields, target.field);
    const exact = c.exact.get(target.field);
    if (declared === undefined || exact === undefined) return all(n);
    const wanted = normalizeKeyword(declared, plan.raw);
    return termsFrom(exact, n, wanted, plan.prefix);
  }
  const fts = c.fts.get(target.field);
  if (fts === undefined || plan.tokens.length === 0) return all(n);
  let bits = all(n);
  plan.tokens.forEach((wanted, j) => {
    const prefix = plan.prefix && j === plan.tokens.length - 1;
    bits = and(bits, termsFrom(fts, n, wanted, prefix));
  });
  return bits;
}

/**
 * The ranges of `c` no record matching `plan` lies in, merged, in order:
 * what a scan may skip.
 */
export function ruledOutRanges(
  config: SearchConfig,
  plan: Plan,
  c: Companion,
): { startPos: number; endPos: number }[] {
  const bits = candidateBlocks(config, plan, c);
  const out: { startPos: number; endPos: number }[] = [];
  c.blocks.forEach((b, i) => {
    if (hasBit(bits, i)) return;
    const last = out[out.length - 1];
    if (last !== undefined && last.endPos === b.startPos) {
      last.endPos = b.endPos;
    } else out.push({ startPos: b.startPos, endPos: b.endPos });
  });
  return out;
}
