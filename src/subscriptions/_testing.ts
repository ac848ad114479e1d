/**
 * @module
 * Test support: an independent webhook-signature verifier that uses only Web
 * Crypto and a published JWK Set, never our signing code.
 */

/**
 * True when `header` (`t=..,kid=..,ed25519=..`) signs `raw` with the key of
 * that `kid` in `jwks`, and its timestamp is within 5 minutes of now.
 */
export async function verifyWebhookSignature(
  raw: string,
  header: string | null,
  jwks: { keys: JsonWebKey[] },
): Promise<boolean> {
  const match = /^t=(\d+),kid=([^,]+),ed25519=([A-Za-z0-9_-]+)$/.exec(
    header ?? "",
  );
  if (match === null) return false;
  if (Math.abs(Date.now() / 1000 - Number(match[1])) > 300) return false;
  const jwk = jwks.keys.find((k) => (k as { kid?: string }).kid === match[2]);
  if (jwk === undefined) return false;
  const key = await crypto.subtle.importKey(
    "jwk",
    jwk,
    { name: "Ed25519" },
    false,
    ["verify"],
  );
  const b64 = match[3].replaceAll("-", "+").replaceAll("_", "/");
  const sig = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return await crypto.subtle.verify(
    "Ed25519",
    key,
    sig,
    new TextEncoder().encode(`${match[1]}.${raw}`),
  );
}
