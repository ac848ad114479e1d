/**
 * @module
 * The server's webhook signing keys and token secret, loaded from (and
 * created in) the `SubscriptionStore` so they survive restarts (PROTOCOL.md
 * §6.5, §12.9). One key signs; retired keys stay in the JWKS for twice the
 * five-minute replay window, so receivers can still verify recent deliveries.
 */

import { KEY_PUBLISH_AFTER_RETIRE_MS } from "../limits.ts";
import type {
  KeyRow,
  SubscriptionOp,
  SubscriptionStore,
} from "../storage/subscription_store.ts";
import {
  generateSigningKey,
  type PublicJwk,
  publicJwk,
  type SigningKeyRecord,
  TokenSigner,
  WebhookSigner,
} from "./signing.ts";

const TOKEN_SECRET = "token_hmac";

type Published = PublicJwk & { retiredAtMs: number | null };

function published(record: SigningKeyRecord): Published {
  return { ...publicJwk(record), retiredAtMs: record.retiredAtMs };
}

/** Signing key, published keys and token signer. Create with `KeyRing.open`. */
export class KeyRing {
  #store: SubscriptionStore;
  #now: () => number;
  #signer: WebhookSigner;
  #jwks: Published[];
  #reloads = 0;
  /** Mints and verifies callback and claim tokens. */
  readonly tokens: TokenSigner;

  private constructor(
    store: SubscriptionStore,
    now: () => number,
    signer: WebhookSigner,
    jwks: Published[],
    tokens: TokenSigner,
  ) {
    this.#store = store;
    this.#now = now;
    this.#signer = signer;
    this.#jwks = jwks;
    this.tokens = tokens;
  }

  /** Loads the keys and secret, creating and persisting them the first time. */
  static async open(
    store: SubscriptionStore,
    now: () => number,
  ): Promise<KeyRing> {
    const snapshot = store.load();
    let keys = snapshot.keys;
    if (!keys.some((k) => k.retiredAtMs === null)) {
      const key = await generateSigningKey(now());
      store.commit([{ op: "put_key", row: key }]);
      keys = [...keys, key];
    }
    const active = keys.filter((k) => k.retiredAtMs === null).at(-1)!;
    const signer = await WebhookSigner.fromRecord(active);
    const jwks = keys.map(published);
    let secret = snapshot.secrets.get(TOKEN_SECRET);
    if (secret === undefined) {
      secret = crypto.getRandomValues(new Uint8Array(32));
      store.commit([{ op: "put_secret", name: TOKEN_SECRET, value: secret }]);
      // Another node starting alongside may have stored its own first.
      secret = store.load().secrets.get(TOKEN_SECRET) ?? secret;
    }
    return new KeyRing(store, now, signer, jwks, new TokenSigner(secret));
  }

  /** The key that signs new deliveries. */
  get signer(): WebhookSigner {
    return this.#signer;
  }

  /** The public JWK Set. */
  jwks(): { keys: PublicJwk[] } {
    const cutoff = this.#now() - KEY_PUBLISH_AFTER_RETIRE_MS;
    return {
      keys: this.#jwks
        .filter((k) => k.retiredAtMs === null || k.retiredAtMs > cutoff)
        .map(({ retiredAtMs: _, ...k }) => k),
    };
  }

  /**
   * Takes the keys `rows` (as stored now) after another node rotated them:
   * the newest unretired key signs, and the published set follows.
   */
  async reload(rows: KeyRow[]): Promise<void> {
    const active = rows.filter((k) => k.retiredAtMs === null).at(-1);
    if (active === undefined) return; // nothing signs yet: keep this one
    const call = ++this.#reloads;
    const signer = active.kid === this.#signer.kid
      ? this.#signer
      : await WebhookSigner.fromRecord(active);
    if (call !== this.#reloads) return; // a later reload applies
    this.#signer = signer;
    this.#jwks = rows.map(published);
  }

  /** Retires the signing key and signs with a new one; the old key stays published. */
  async rotate(): Promise<string> {
    const now = this.#now();
    const key = await generateSigningKey(now);
    const ops: SubscriptionOp[] = this.#store.load().keys
      .filter((k) => k.retiredAtMs === null)
      .map((k) => ({ op: "put_key", row: { ...k, retiredAtMs: now } }));
    ops.push({ op: "put_key", row: key });
    this.#store.commit(ops);
    this.#signer = await WebhookSigner.fromRecord(key);
    this.#jwks = [
      ...this.#jwks.map((k) =>
        k.retiredAtMs === null ? { ...k, retiredAtMs: now } : k
      ),
      published(key),
    ];
    return key.kid;
  }
}
