/**
 * @module
 * Shared framing of serialized filters: a fixed little-endian header that
 * starts with a 4-byte magic and a version byte, the body, and a trailing
 * CRC32C of everything before it. Decoding checks length, magic, version
 * and checksum and reports any mismatch as a typed `corrupt` error.
 */

import { StreamError } from "../errors.ts";
import { crc32c } from "./checksum.ts";

/** Bytes of the trailing CRC32C. */
export const TRAILER_BYTES = 4;

/** Writes the CRC32C of `out[0 .. length - 4)` into its last 4 bytes. */
export function sealChecksum(out: Uint8Array): void {
  const body = out.subarray(0, out.length - TRAILER_BYTES);
  new DataView(out.buffer, out.byteOffset, out.length)
    .setUint32(out.length - TRAILER_BYTES, crc32c(body), true);
}

/** Throws a `corrupt` StreamError about a serialized `what`. */
export function corrupt(
  what: string,
  reason: string,
  detail?: Record<string, unknown>,
): never {
  throw new StreamError("corrupt", `Cannot decode ${what}: ${reason}`, detail);
}

/**
 * Checks the parts every format shares and returns a DataView on `bytes`:
 * at least `headerBytes + 4` long, the magic, the version, the checksum.
 */
export function openFramed(
  what: string,
  bytes: Uint8Array,
  magic: Uint8Array,
  version: number,
  headerBytes: number,
): DataView {
  if (!(bytes instanceof Uint8Array)) corrupt(what, "input is not bytes");
  if (bytes.length < headerBytes + TRAILER_BYTES) {
    corrupt(what, `truncated at ${bytes.length} bytes`, {
      length: bytes.length,
    });
  }
  for (let i = 0; i < magic.length; i++) {
    if (bytes[i] !== magic[i]) corrupt(what, "bad magic");
  }
  if (bytes[4] !== version) {
    corrupt(what, `unsupported version ${bytes[4]}`, { version: bytes[4] });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const stored = view.getUint32(bytes.length - TRAILER_BYTES, true);
  const actual = crc32c(bytes.subarray(0, bytes.length - TRAILER_BYTES));
  if (stored !== actual) {
    corrupt(what, "checksum mismatch", { stored, actual });
  }
  return view;
}
