/**
 * @module
 * What route handlers share: the engine, settings and limits, the access
 * gate, the body limits, and the optional parts the server wires in (`_details`, extra
 * `/health` fields, the subscription manager).
 */

import type { AccessGate } from "../auth/gate.ts";
import type { HttpConfig, LimitsConfig } from "../config.ts";
import type { Engine } from "../engine/engine.ts";
import type { WaitOutcome } from "../engine/types.ts";
import type { IndexStatusBody, StreamDetails } from "../tier/details.ts";
import type { TouchApi } from "../live/touch_service.ts";
import type { Result } from "../errors.ts";
import type { SubscriptionManager } from "../subscriptions/manager.ts";
import type { WireLimits } from "../subscriptions/wire.ts";
import type { BodyLimits } from "./body.ts";
import type { SearchGate } from "./search_gate.ts";

/** The subscription APIs' part of the context. */
export interface SubscriptionContext {
  /** The manager. */
  manager: SubscriptionManager;
  /** What request parsing checks against. */
  wire: WireLimits;
  /** Largest control-request body. */
  bodyBytesMax: number;
}

/**
 * What the handler tells the request observer (`observe.ts`) about one
 * request: the route name it matched, and who made it. The observer
 * creates it with the request id; the handler fills in the rest.
 */
export interface RequestNote {
  /** `X-Request-Id`: the client's, when sane, else generated. */
  readonly requestId: string;
  /** The matched operation's name (`stream_append`); "" when none. */
  route: string;
  /** The API key id that authenticated the request; "" when none. */
  keyId: string;
}

/** The server's own pages: `/metrics`, `/v1/server/_details`. */
export interface OpsContext {
  /**
   * The metrics exposition and its content type: OpenMetrics 1.0 when
   * `openMetrics`, else Prometheus text 0.0.4.
   */
  metrics(openMetrics: boolean): Promise<{ contentType: string; body: string }>;
  /** The `GET /v1/server/_details` body. */
  details(): Record<string, unknown>;
}

/** Shared by every route handler. */
export interface HttpContext {
  /** The engine. */
  engine: Engine;
  /** HTTP settings. */
  http: HttpConfig;
  /** Limits. */
  limits: LimitsConfig;
  /** Credentials, scopes, CORS: who may do what (`access.ts`). */
  gate: AccessGate;
  /** What PUT and POST bodies are read under (size, budget, admission). */
  body: BodyLimits;
  /** The gate `_search` and `_aggregate` share (none: ungated). */
  searchGate?: SearchGate;
  /** `GET /v1/stream/{name}/_details`: where the stream's bytes live. */
  details?: (name: string) => Result<StreamDetails>;
  /** `GET /v1/stream/{name}/_index_status`: index build progress. */
  indexStatus?: (name: string) => Result<IndexStatusBody>;
  /**
   * Waits until the index status may have moved (a tiering pass ended),
   * `timeoutMs` passes or `signal` aborts; `overloaded` when too many wait.
   * Without it, `_index_status` long-polls answer at once.
   */
  indexStatusWait?: (
    timeoutMs: number,
    signal: AbortSignal,
  ) => Promise<Result<WaitOutcome>>;
  /**
   * With tiered storage: resolves true once stream `name`'s registry
   * `revision` is published to the object store, false when that did not
   * happen in time (`POST .../_schema` then answers 503).
   */
  schemaPublished?: (name: string, revision: number) => Promise<boolean>;
  /**
   * More fields for `GET /health` (the tiered-storage backlog, the
   * database); `status: "unavailable"` among them answers 503.
   */
  health?: () => Record<string, unknown>;
  /** The subscription APIs, when enabled. */
  subscriptions?: SubscriptionContext;
  /** `/metrics` and `/v1/server/_details`; without it they answer 404. */
  ops?: OpsContext;
  /** The `touch/*` routes; without it they answer 404. */
  touch?: TouchApi;
}
