/**
 * @module
 * The touch key families (touch-live.md §3): table keys, template ids and
 * template keys, and the fine keys of a template (watch, membership,
 * projected field). A key is XXH3-64 (seed 0) of a preimage, written as 16
 * lower-case hex digits; a key id is the uint32 used on hot paths. One
 * hasher instance serves a whole batch, so a batch costs no allocation per
 * key: preimages are built in a scratch buffer and hashed in place.
 */

import { createXXHash3, createXXHash32, type IHasher } from "hash-wasm";

/** How a template field's value becomes key text. */
export type FieldEncoding = "string" | "int64" | "bool" | "datetime" | "bytes";

/** The encodings a template field may declare. */
export const ENCODINGS: readonly FieldEncoding[] = [
  "string",
  "int64",
  "bool",
  "datetime",
  "bytes",
];

/** One field of a template. */
export interface TemplateField {
  name: string;
  encoding: FieldEncoding;
}

/** A template: an entity and its fields in sorted order, with its id. */
export interface Template {
  id: string;
  entity: string;
  fields: TemplateField[];
}

const HEX16 = /^[0-9a-f]{16}$/;
const TAGS = {
  key: new TextEncoder().encode("key\0"),
  mem: new TextEncoder().encode("mem\0"),
  fld: new TextEncoder().encode("fld\0"),
  tpl: new TextEncoder().encode("tpl\0"),
};
/** Template ids whose 8 bytes are kept decoded. */
const ID_CACHE_MAX = 65_536;
const INT = /^-?\d+$/;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Whether `key` is a 16-digit lower-case hex key. */
export function isHex16(key: string): boolean {
  return HEX16.test(key);
}

/**
 * The key text of `value` under `encoding`, or null when the value is
 * missing or cannot be encoded (then the change yields no key for that side).
 */
export function encodeArg(
  value: unknown,
  encoding: FieldEncoding,
): string | null {
  if (value === null || value === undefined) return null;
  switch (encoding) {
    case "string":
      if (typeof value === "string") return value;
      if (typeof value === "number") {
        return Number.isFinite(value) ? String(value) : null;
      }
      if (typeof value === "boolean") return String(value);
      return null;
    case "int64": {
      let n: bigint;
      if (typeof value === "number") {
        if (!Number.isSafeInteger(value)) return null;
        n = BigInt(value);
      } else if (typeof value === "string" && INT.test(value)) {
        n = BigInt(value);
      } else return null;
      return n < INT64_MIN || n > INT64_MAX ? null : n.toString();
    }
    case "bool":
      return typeof value === "boolean" ? (value ? "1" : "0") : null;
    case "datetime": {
      if (typeof value !== "string") return null;
      const ms = Date.parse(value);
      return Number.isNaN(ms) ? null : new Date(ms).toISOString();
    }
    case "bytes":
      return typeof value === "string" ? value : null;
  }
}

/** Field names in the order keys use: sorted by UTF-16 code unit. */
export function sortFields<T extends { name: string }>(fields: T[]): T[] {
  return [...fields].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0
  );
}

/** Builds preimages and hashes them; create once with `KeyHasher.create`. */
export class KeyHasher {
  readonly #h64: IHasher;
  readonly #h32: IHasher;
  readonly #enc = new TextEncoder();
  readonly #ids = new Map<string, Uint8Array>();
  readonly #scratch = new Uint8Array(4096);

  private constructor(h64: IHasher, h32: IHasher) {
    this.#h64 = h64;
    this.#h32 = h32;
  }

  /** Loads the XXH3-64 and XXH32 kernels. */
  static async create(): Promise<KeyHasher> {
    return new KeyHasher(await createXXHash3(0, 0), await createXXHash32(0));
  }

  /** XXH3-64 of each preimage as hex16, in order, on one hasher instance. */
  hashMany(preimages: Uint8Array[]): string[] {
    const out = new Array<string>(preimages.length);
    for (let i = 0; i < preimages.length; i++) {
      out[i] = this.#h64.init().update(preimages[i]).digest("hex");
    }
    return out;
  }

  /** Key ids of each key, in order (see `keyId`). */
  keyIds(keys: string[]): Uint32Array {
    const out = new Uint32Array(keys.length);
    for (let i = 0; i < keys.length; i++) out[i] = this.keyId(keys[i]);
    return out;
  }

  /** Low 32 bits of a hex16 key; otherwise XXH32 (seed 0) of the key's UTF-8. */
  keyId(key: string): number {
    if (isHex16(key)) return parseInt(key.slice(8), 16) >>> 0;
    return parseInt(this.#h32.init().update(key).digest("hex"), 16) >>> 0;
  }

  /** `"tbl\0" + entity`. */
  tableKey(entity: string): string {
    return this.hashMany([this.#bytes(["tbl", entity])])[0];
  }

  /** `"tpl\0" + entity + "\0" + f1 …`, field names sorted. */
  templateId(entity: string, fieldNames: string[]): string {
    const sorted = sortFields(fieldNames.map((name) => ({ name })));
    return this.hashMany([
      this.#bytes(["tpl", entity, ...sorted.map((f) => f.name)]),
    ])[0];
  }

  /** A template with its id, fields sorted. */
  template(entity: string, fields: TemplateField[]): Template {
    const sorted = sortFields(fields);
    return {
      id: this.templateId(entity, sorted.map((f) => f.name)),
      entity,
      fields: sorted,
    };
  }

  /** `"tpl\0" + T`. */
  templateKey(templateId: string): string {
    return this.fineKey("tpl", templateId, null, []);
  }

  /** `"key\0" + T` then `"\0" + arg` per field. */
  watchKey(templateId: string, args: string[]): string {
    return this.fineKey("key", templateId, null, args);
  }

  /** `"mem\0" + T` then `"\0" + arg` per field. */
  membershipKey(templateId: string, args: string[]): string {
    return this.fineKey("mem", templateId, null, args);
  }

  /** `"fld\0" + T + "\0" + field` then `"\0" + arg` per template field. */
  projectedFieldKey(templateId: string, field: string, args: string[]): string {
    return this.fineKey("fld", templateId, field, args);
  }

  /** Preimage of a template key. */
  templateKeyPreimage(templateId: string): Uint8Array {
    return this.finePreimage("tpl", templateId, null, []);
  }

  /** Preimage of a table key. */
  tablePreimage(entity: string): Uint8Array {
    return this.#bytes(["tbl", entity]);
  }

  /** The key of a fine preimage, hashed in place without a copy. */
  fineKey(
    tag: "key" | "mem" | "fld" | "tpl",
    templateId: string,
    field: string | null,
    args: string[],
  ): string {
    const bytes = this.#fill(tag, templateId, field, args);
    return this.#h64.init().update(bytes).digest("hex");
  }

  /** Preimage of a fine key: tag, NUL, T (8 bytes BE), optional field, args. */
  finePreimage(
    tag: "key" | "mem" | "fld" | "tpl",
    templateId: string,
    field: string | null,
    args: string[],
  ): Uint8Array {
    return this.#fill(tag, templateId, field, args).slice();
  }

  /** The preimage in the scratch buffer when it fits, else a new array. */
  #fill(
    tag: "key" | "mem" | "fld" | "tpl",
    templateId: string,
    field: string | null,
    args: string[],
  ): Uint8Array {
    let tail = field === null ? "" : "\0" + field;
    for (const arg of args) tail += "\0" + arg;
    const scratch = this.#scratch;
    scratch.set(TAGS[tag], 0);
    scratch.set(this.#idBytes(templateId), 4);
    if (tail.length * 3 <= scratch.length - 12) {
      const { written } = this.#enc.encodeInto(tail, scratch.subarray(12));
      return scratch.subarray(0, 12 + written);
    }
    const tailBytes = this.#enc.encode(tail);
    const out = new Uint8Array(12 + tailBytes.length);
    out.set(scratch.subarray(0, 12), 0);
    out.set(tailBytes, 12);
    return out;
  }

  #idBytes(templateId: string): Uint8Array {
    let bytes = this.#ids.get(templateId);
    if (bytes === undefined) {
      if (!isHex16(templateId)) {
        throw new RangeError(`template id ${templateId} is not hex16`);
      }
      bytes = new Uint8Array(8);
      for (let i = 0; i < 8; i++) {
        bytes[i] = parseInt(templateId.slice(i * 2, i * 2 + 2), 16);
      }
      if (this.#ids.size >= ID_CACHE_MAX) this.#ids.clear();
      this.#ids.set(templateId, bytes);
    }
    return bytes;
  }

  #bytes(parts: string[]): Uint8Array {
    return this.#enc.encode(parts.join("\0"));
  }
}
