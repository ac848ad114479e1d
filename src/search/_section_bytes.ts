/**
 * @module
 * The byte layer of companion sections: a growable little-endian `Writer`
 * and a bounds-checked `Reader` (`u8`, `u32`, `f64`, length-prefixed UTF-8
 * strings, unsigned LEB128 varints), shared by every section's encoding. A
 * read past the end throws `CompanionError`.
 */

/** A companion that cannot be read (bad magic, version, CRC or layout). */
export class CompanionError extends Error {}

/** Little-endian bytes of a companion section, written. */
export class Writer {
  #buf = new Uint8Array(1024);
  #view = new DataView(this.#buf.buffer);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.#room(1);
    this.#buf[this.length++] = v;
  }
  u32(v: number): void {
    this.#room(4);
    this.#view.setUint32(this.length, v, true);
    this.length += 4;
  }
  f64(v: number): void {
    this.#room(8);
    this.#view.setFloat64(this.length, v, true);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }
  str(s: string): void {
    this.#room(4 + 3 * s.length);
    const at = this.length + 4;
    const buf = this.#buf;
    let n = 0;
    // ASCII (most terms) is copied by char code, faster than an encoder
    // call per short string; anything else is encoded whole.
    for (; n < s.length; n++) {
      const c = s.charCodeAt(n);
      if (c >= 0x80) break;
      buf[at + n] = c;
    }
    if (n < s.length) {
      n = encoder.encodeInto(s, buf.subarray(at)).written;
    }
    this.#view.setUint32(this.length, n, true);
    this.length = at + n;
  }
  /** An unsigned LEB128 integer (below 2^53). */
  varint(v: number): void {
    this.#room(8);
    while (v >= 0x80) {
      this.#buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.#buf[this.length++] = v;
  }
  done(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

/** Little-endian bytes of a companion section, read back. */
export class Reader {
  #view: DataView;
  at = 0;
  constructor(readonly buf: Uint8Array) {
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  #need(n: number): void {
    if (this.at + n > this.buf.length) throw new CompanionError("truncated");
  }
  u8(): number {
    this.#need(1);
    return this.buf[this.at++];
  }
  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  f64(): number {
    this.#need(8);
    const v = this.#view.getFloat64(this.at, true);
    this.at += 8;
    return v;
  }
  /** A count read before that many items of at least `itemBytes` each. */
  count(itemBytes: number): number {
    const n = this.u32();
    if (n * itemBytes > this.buf.length - this.at) {
      throw new CompanionError("count out of bounds");
    }
    return n;
  }
  bytes(n: number): Uint8Array {
    this.#need(n);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
  str(): string {
    const bytes = this.bytes(this.u32());
    // Short ASCII strings (most terms) skip a decoder call each.
    if (bytes.length <= 32) {
      let ascii = true;
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        return String.fromCharCode.apply(null, bytes as unknown as number[]);
      }
    }
    return decoder.decode(bytes);
  }
  varint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.u8();
      v += (byte & 0x7f) * scale;
      if (byte < 0x80) return v;
      scale *= 0x80;
    }
    throw new CompanionError("bad varint");
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
