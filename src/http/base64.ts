/**
 * @module
 * Standard base64 (RFC 4648 §4, with padding) for SSE data on binary streams.
 *
 * The characters are written into one byte array and decoded to a string
 * once. Building the string by concatenation instead leaves a rope of a
 * million small strings per MiB in V8's young generation, alive until the
 * rope is flattened; scavenges that find that much alive grow the young
 * generation to its maximum, after which the garbage of every request (body
 * buffers allocated with `malloc`) lives longer and the process's resident
 * set grows with it.
 */

const ALPHABET = new TextEncoder().encode(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
);
const PAD = 0x3d; // "="
const ascii = new TextDecoder();

/** The length of the padded base64 text for `byteLength` bytes. */
export function base64Length(byteLength: number): number {
  return Math.ceil(byteLength / 3) * 4;
}

/** Encodes bytes as padded standard base64. */
export function encodeBase64(bytes: Uint8Array): string {
  const out = new Uint8Array(base64Length(bytes.length));
  let o = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out[o++] = ALPHABET[n >> 18];
    out[o++] = ALPHABET[(n >> 12) & 63];
    out[o++] = ALPHABET[(n >> 6) & 63];
    out[o++] = ALPHABET[n & 63];
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const n = (bytes[i] << 16) | (rest === 2 ? bytes[i + 1] << 8 : 0);
    out[o++] = ALPHABET[n >> 18];
    out[o++] = ALPHABET[(n >> 12) & 63];
    out[o++] = rest === 2 ? ALPHABET[(n >> 6) & 63] : PAD;
    out[o++] = PAD;
  }
  return ascii.decode(out);
}
