import assert from "node:assert/strict";
import {
  fromBase64url,
  generateSigningKey,
  publicJwk,
  thumbprintKid,
  TokenSigner,
  WebhookSigner,
} from "./signing.ts";
import { verifyWebhookSignature } from "./_testing.ts";

Deno.test("WebhookSigner signatures verify against the published JWK only", async () => {
  const record = await generateSigningKey(Date.now());
  const signer = await WebhookSigner.fromRecord(record);
  const jwk = publicJwk(record);
  assert.equal("d" in jwk, false, "the public JWK has no private part");
  const body = '{"subscription_id":"s","generation":1}';
  const header = await signer.sign(body, Date.now());
  assert.match(header, new RegExp(`^t=\\d+,kid=${jwk.kid},ed25519=`));
  const jwks = { keys: [jwk as unknown as JsonWebKey] };
  assert.equal(await verifyWebhookSignature(body, header, jwks), true);
  assert.equal(
    await verifyWebhookSignature(body + " ", header, jwks),
    false,
  );
  // Another key under the same kid: the signature itself must not verify.
  const other = publicJwk(await generateSigningKey(Date.now()));
  assert.equal(
    await verifyWebhookSignature(body, header, {
      keys: [{ ...other, kid: jwk.kid } as unknown as JsonWebKey],
    }),
    false,
  );
});

Deno.test("thumbprintKid() follows RFC 7638 / RFC 8037 appendix A.3", async () => {
  // RFC 8037 A.3: thumbprint of the example Ed25519 key.
  const kid = await thumbprintKid(
    "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
  );
  assert.equal(kid, "ds_kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
});

Deno.test("TokenSigner rejects forged, altered and expired tokens", () => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const signer = new TokenSigner(secret);
  const now = Date.now();
  const token = signer.mint({
    sub: "a",
    gen: 3,
    wid: "w_1",
    exp: Math.floor(now / 1000) + 60,
  });
  const good = signer.verify(token, now);
  assert.ok(good.ok);
  assert.equal(good.claims.gen, 3);
  const [h, p, m] = token.split(".");
  const altered = JSON.parse(new TextDecoder().decode(fromBase64url(p)));
  altered.gen = 4;
  const forgedPayload = btoa(JSON.stringify(altered)).replaceAll("=", "");
  assert.deepEqual(signer.verify(`${h}.${forgedPayload}.${m}`, now), {
    ok: false,
    expired: false,
  });
  assert.deepEqual(new TokenSigner(new Uint8Array(32)).verify(token, now), {
    ok: false,
    expired: false,
  });
  assert.deepEqual(signer.verify("garbage", now), {
    ok: false,
    expired: false,
  });
  assert.deepEqual(signer.verify(token, now + 120_000), {
    ok: false,
    expired: true,
  });
});
