/**
 * @module
 * Paths of the subscription APIs under the reserved `__ds` prefix
 * (PROTOCOL.md §6-7): `subscriptions/{id}` and what follows the id
 * (`streams`, `streams/{path}`, `callback`, `claim`, `ack`, `release`).
 */

import { StreamError } from "../errors.ts";
import { STREAM_PREFIX } from "./stream_path.ts";

/** URL prefix of the reserved subscription APIs. */
export const DS_PREFIX: string = STREAM_PREFIX + "__ds/";

const SUBSCRIPTIONS = "subscriptions/";
const ID_PATTERN = /^[A-Za-z0-9._~:@-]{1,256}$/;

/** A subscription path taken apart. */
export interface SubscriptionTarget {
  /** Subscription id, decoded. */
  id: string;
  /**
   * What follows the id: "" for the subscription itself, `streams/*` for
   * one linked stream, else the one segment (`streams`, `claim`, ...).
   */
  sub: string;
  /** The stream path of `streams/{path}`, decoded; "" otherwise. */
  name: string;
}

/**
 * Takes apart `rest`, the still-encoded path after `/v1/stream/__ds/`:
 * `undefined` when it is no subscription path, a 400 for a bad id or escape.
 */
export function parseSubscriptionPath(
  rest: string,
): SubscriptionTarget | StreamError | undefined {
  if (!rest.startsWith(SUBSCRIPTIONS)) return undefined;
  const parts = rest.slice(SUBSCRIPTIONS.length).split("/");
  const id = decoded(parts[0]);
  if (id === undefined) {
    return new StreamError(
      "bad_request",
      "Subscription id is not valid percent-encoding",
    );
  }
  if (!ID_PATTERN.test(id)) {
    return new StreamError(
      "bad_request",
      "Subscription ids are 1-256 characters of A-Z a-z 0-9 . _ ~ : @ -",
    );
  }
  if (parts.length === 1) return { id, sub: "", name: "" };
  if (parts.length === 2) {
    // `subscriptions/{id}/` names nothing: "" is the subscription itself.
    return parts[1] === "" ? undefined : { id, sub: parts[1], name: "" };
  }
  if (parts[1] !== "streams") return undefined;
  const name = decoded(parts.slice(2).join("/"));
  if (name === undefined) {
    return new StreamError(
      "bad_request",
      "Stream path is not valid percent-encoding",
    );
  }
  return { id, sub: "streams/*", name };
}

function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
