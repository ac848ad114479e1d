/**
 * @module
 * The term dictionary of one text field while a companion is built: text
 * values are analyzed (`unicode_word_v1`) straight into an open-addressing
 * hash table keyed by the lower-cased characters, so an ASCII token that is
 * already known costs a hash and a compare, with no string made for it.
 * Profiles of companion builds spent most of their time hashing freshly cut
 * token strings into a `Map`; the terms and figures are the same.
 */

import { TEXT_TOKENS_PER_VALUE_MAX } from "../limits.ts";
import { analyzeUnicode } from "./extract.ts";

/** One term: the blocks holding it (ascending, each once) and its records. */
export interface TextTerm {
  term: string;
  blocks: number[];
  docs: number;
}

const SLOTS_MIN = 1024;

/** Terms of one text field, fed in block order. */
export class TextTermTable {
  /** Entry index + 1 per slot (0: empty); a power of two long. */
  #slots = new Int32Array(SLOTS_MIN);
  readonly #terms: string[] = [];
  readonly #hashes: number[] = [];
  readonly #blocks: number[][] = [];
  readonly #docs: number[] = [];
  readonly #lastDoc: number[] = [];
  /** Token bounds of the value being added: start, end, start, end... */
  #bounds: number[] = [];

  /**
   * Adds the tokens of `text` (record `doc`, block `b`); returns how many
   * tokens it analyzed to (`analyzeText(text).length`).
   */
  addText(text: string, b: number, doc: number): number {
    const bounds = this.#cut(text);
    if (bounds === undefined) {
      // Non-ASCII text takes the analyzer's Unicode rule.
      const tokens = analyzeUnicode(text);
      for (const token of tokens) this.#addString(token, b, doc);
      return tokens.length;
    }
    for (let i = 0; i < bounds.length; i += 2) {
      this.#addRange(text, bounds[i], bounds[i + 1], b, doc);
    }
    return bounds.length >> 1;
  }

  /** The terms, unsorted. */
  entries(): TextTerm[] {
    const out: TextTerm[] = new Array(this.#terms.length);
    for (let i = 0; i < out.length; i++) {
      out[i] = {
        term: this.#terms[i],
        blocks: this.#blocks[i],
        docs: this.#docs[i],
      };
    }
    return out;
  }

  /**
   * Bounds of the ASCII word runs of `text` (letters and digits, as
   * `analyzeText` cuts them, at most `TEXT_TOKENS_PER_VALUE_MAX`), or
   * undefined when `text` holds a non-ASCII character.
   */
  #cut(text: string): number[] | undefined {
    const bounds = this.#bounds;
    bounds.length = 0;
    let start = -1;
    for (let i = 0; i <= text.length; i++) {
      const c = i < text.length ? text.charCodeAt(i) : 0x20;
      if (c >= 0x80) return undefined;
      const word = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) ||
        (c >= 0x41 && c <= 0x5a);
      if (word) {
        if (start < 0) start = i;
      } else if (start >= 0) {
        if (bounds.length < 2 * TEXT_TOKENS_PER_VALUE_MAX) {
          bounds.push(start, i);
        }
        start = -1;
      }
    }
    return bounds;
  }

  #addRange(text: string, from: number, to: number, b: number, doc: number) {
    let h = 0x811c9dc5;
    for (let i = from; i < to; i++) {
      h = Math.imul(h ^ lower(text.charCodeAt(i)), 0x01000193);
    }
    const mask = this.#slots.length - 1;
    for (let at = h & mask;; at = (at + 1) & mask) {
      const slot = this.#slots[at];
      if (slot === 0) {
        this.#insert(at, text.slice(from, to).toLowerCase(), h, b, doc);
        return;
      }
      const e = slot - 1;
      if (this.#hashes[e] === h && sameLower(this.#terms[e], text, from, to)) {
        this.#touch(e, b, doc);
        return;
      }
    }
  }

  #addString(term: string, b: number, doc: number): void {
    let h = 0x811c9dc5;
    for (let i = 0; i < term.length; i++) {
      h = Math.imul(h ^ term.charCodeAt(i), 0x01000193);
    }
    const mask = this.#slots.length - 1;
    for (let at = h & mask;; at = (at + 1) & mask) {
      const slot = this.#slots[at];
      if (slot === 0) return this.#insert(at, term, h, b, doc);
      const e = slot - 1;
      if (this.#hashes[e] === h && this.#terms[e] === term) {
        return this.#touch(e, b, doc);
      }
    }
  }

  #touch(e: number, b: number, doc: number): void {
    const blocks = this.#blocks[e];
    if (blocks[blocks.length - 1] !== b) blocks.push(b);
    if (this.#lastDoc[e] !== doc) {
      this.#lastDoc[e] = doc;
      this.#docs[e]++;
    }
  }

  #insert(at: number, term: string, h: number, b: number, doc: number): void {
    const e = this.#terms.length;
    this.#terms.push(term);
    this.#hashes.push(h);
    this.#blocks.push([b]);
    this.#docs.push(1);
    this.#lastDoc.push(doc);
    this.#slots[at] = e + 1;
    if (2 * this.#terms.length > this.#slots.length) this.#grow();
  }

  #grow(): void {
    const slots = new Int32Array(this.#slots.length * 2);
    const mask = slots.length - 1;
    for (let e = 0; e < this.#terms.length; e++) {
      let at = this.#hashes[e] & mask;
      while (slots[at] !== 0) at = (at + 1) & mask;
      slots[at] = e + 1;
    }
    this.#slots = slots;
  }
}

function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

/** Whether `term` is `text[from, to)` lower-cased (ASCII). */
function sameLower(term: string, text: string, from: number, to: number) {
  if (term.length !== to - from) return false;
  for (let i = 0; i < term.length; i++) {
    if (term.charCodeAt(i) !== lower(text.charCodeAt(from + i))) return false;
  }
  return true;
}
