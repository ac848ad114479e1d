/**
 * @module
 * One webhook attempt (PROTOCOL.md §7.1). The request goes only to the
 * subscription's own URL, re-validated before every attempt (the SSRF rules
 * or the localhost exception may have changed since creation), never
 * follows redirects, and reads at most a small response.
 * A hostname is also resolved first and refused if any address is private;
 * `fetch` resolves again, so this narrows DNS rebinding but cannot close it.
 */

import {
  WEBHOOK_DNS_TIMEOUT_MS,
  WEBHOOK_RESPONSE_BYTES_MAX,
} from "../limits.ts";
import type { WebhookSigner } from "./signing.ts";
import {
  isBlockedHost,
  isLocalDevHost,
  validateWebhookUrl,
} from "./webhook_url.ts";
import { readBytesLimited } from "../bytes.ts";

/** How an attempt ended. */
export type AttemptOutcome =
  | { ok: true; done: boolean }
  | { ok: false; reason: string };

/** One attempt's request. */
export interface AttemptOptions {
  /** The subscription's webhook URL. */
  url: string;
  /** The JSON payload. */
  body: string;
  /** Signs the payload. */
  signer: WebhookSigner;
  /** Development exception for localhost receivers. */
  allowLocalhost: boolean;
  /** Request timeout. */
  timeoutMs: number;
  /** Aborts the request at shutdown. */
  signal: AbortSignal;
  /** Signature time, epoch ms. */
  nowMs: number;
}

/** POSTs `body`, signed, to `url`; a 2xx is success and `{done:true}` finishes the wake. */
export async function attemptWebhook(
  options: AttemptOptions,
): Promise<AttemptOutcome> {
  const checked = validateWebhookUrl(options.url, options.allowLocalhost);
  if (!checked.ok) return { ok: false, reason: checked.error.message };
  const resolved = await checkResolvedHost(
    new URL(checked.value).hostname,
    options.allowLocalhost,
  );
  if (resolved !== undefined) return { ok: false, reason: resolved };
  const signature = await options.signer.sign(options.body, options.nowMs);
  let response: Response;
  try {
    response = await fetch(checked.value, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-signature": signature,
      },
      body: options.body,
      redirect: "manual",
      signal: AbortSignal.any([
        options.signal,
        AbortSignal.timeout(options.timeoutMs),
      ]),
    });
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  const text = await readLimited(response);
  if (response.status < 200 || response.status > 299) {
    return { ok: false, reason: `webhook answered ${response.status}` };
  }
  let done = false;
  try {
    const parsed = JSON.parse(text ?? "");
    done = typeof parsed === "object" && parsed !== null &&
      parsed.done === true;
  } catch {
    // Not JSON: delivered, and the handler will call back.
  }
  return { ok: true, done };
}

async function readLimited(response: Response): Promise<string | undefined> {
  if (response.body === null) return undefined;
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readBytesLimited(response.body, WEBHOOK_RESPONSE_BYTES_MAX);
  } catch {
    return undefined;
  }
  if (bytes === undefined) return undefined;
  return new TextDecoder().decode(bytes);
}

/** Why a hostname's addresses are unsafe, or undefined if they look public. */
async function checkResolvedHost(
  hostname: string,
  allowLocalhost: boolean,
): Promise<string | undefined> {
  const host = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  const literal = /^[\d.]+$/.test(host) || host.includes(":");
  if (literal || (allowLocalhost && isLocalDevHost(hostname))) return undefined;
  const addresses: string[] = [];
  for (const type of ["A", "AAAA"] as const) {
    try {
      addresses.push(
        ...await Deno.resolveDns(host, type, {
          signal: AbortSignal.timeout(WEBHOOK_DNS_TIMEOUT_MS),
        }),
      );
    } catch {
      // No such record (or no resolver): fetch reports the real failure.
    }
  }
  const bad = addresses.find((a) =>
    isBlockedHost(a.includes(":") ? `[${a}]` : a)
  );
  return bad === undefined
    ? undefined
    : `${host} resolves to private address ${bad}`;
}
