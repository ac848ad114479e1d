/**
 * @module
 * The route table of the stream API: one row per path shape, each method
 * named, with the access it needs (scope on the route's stream, any key,
 * or none). A new subresource (`_schema`, `pk/{key}`, `touch/meta`) or path
 * (`/metrics`) is one more row here; `Allow`, the CORS preflight and the
 * reserved-name rules follow from the table (see `router.ts`).
 */

import type { Route } from "./router.ts";
import { getConsoleAsset, getConsolePage } from "./console_routes.ts";
import { getDetails } from "./details_route.ts";
import { getAccess, getHealth } from "./health_route.ts";
import { getIndexStatus } from "./index_status_route.ts";
import { listStreams } from "./list_route.ts";
import { getRoutingKeys } from "./routing_keys_route.ts";
import { getMetrics, getServerDetails } from "./ops_routes.ts";
import {
  getObserveRequest,
  postObserveRequest,
} from "./observe_request_route.ts";
import { postStreamTraces, postTraces } from "./otlp_route.ts";
import { getProfile, postProfile } from "./profile_route.ts";
import { getSchema, postSchema } from "./schema_route.ts";
import { getSearch, postAggregate, postSearch } from "./search_route.ts";
import {
  getTouchMeta,
  postTouchActivate,
  postTouchWait,
} from "./touch_routes.ts";
import {
  deleteStream,
  getStream,
  headStream,
  postStream,
  putStream,
} from "./stream_routes.ts";

/** Streams, their subresources, and the server's own paths. */
export const STREAM_ROUTES: readonly Route[] = [
  {
    shape: "stream",
    // This order is the order `Allow` lists them in.
    methods: {
      GET: { name: "stream_get", access: "read", handle: getStream },
      HEAD: { name: "stream_head", access: "read", handle: headStream },
      POST: { name: "stream_append", access: "write", handle: postStream },
      PUT: { name: "stream_create", access: "write", handle: putStream },
      DELETE: { name: "stream_delete", access: "delete", handle: deleteStream },
    },
  },
  {
    shape: "stream_sub",
    sub: "pk",
    methods: {
      GET: { name: "stream_get_key", access: "read", handle: getStream },
    },
  },
  {
    shape: "stream_sub",
    sub: "_routing_keys",
    methods: {
      GET: {
        name: "routing_keys_get",
        access: "read",
        handle: getRoutingKeys,
      },
    },
  },
  {
    shape: "stream_sub",
    sub: "_index_status",
    methods: {
      GET: {
        name: "index_status_get",
        access: "read",
        handle: getIndexStatus,
      },
    },
  },
  {
    shape: "stream_sub",
    sub: "_details",
    methods: {
      GET: { name: "details_get", access: "read", handle: getDetails },
      HEAD: { name: "details_head", access: "read", handle: getDetails },
    },
  },
  {
    shape: "stream_sub",
    sub: "_schema",
    methods: {
      GET: { name: "schema_get", access: "read", handle: getSchema },
      HEAD: { name: "schema_head", access: "read", handle: getSchema },
      // A schema decides which appends every writer may make: `admin`.
      POST: { name: "schema_update", access: "admin", handle: postSchema },
    },
  },
  {
    shape: "stream_sub",
    sub: "_profile",
    methods: {
      GET: { name: "profile_get", access: "read", handle: getProfile },
      HEAD: { name: "profile_head", access: "read", handle: getProfile },
      // A profile rewrites every writer's appends: `admin`, like a schema.
      POST: { name: "profile_update", access: "admin", handle: postProfile },
    },
  },
  {
    shape: "stream_sub",
    sub: "_search",
    methods: {
      GET: { name: "search_get", access: "read", handle: getSearch },
      POST: { name: "search_post", access: "read", handle: postSearch },
    },
  },
  {
    shape: "stream_sub",
    sub: "_otlp/v1/traces",
    methods: {
      // OTLP/HTTP trace export: an append of canonical spans.
      POST: {
        name: "otlp_traces_stream",
        access: "write",
        handle: postStreamTraces,
      },
    },
  },
  {
    shape: "stream_sub",
    sub: "touch/meta",
    methods: {
      GET: { name: "touch_meta", access: "read", handle: getTouchMeta },
    },
  },
  {
    shape: "stream_sub",
    sub: "touch/wait",
    // A wait reads: it reveals only that matching changes were appended.
    methods: {
      POST: { name: "touch_wait", access: "read", handle: postTouchWait },
    },
  },
  {
    shape: "stream_sub",
    sub: "touch/templates/activate",
    // Readers declare the templates their waits use (rate-limited per stream).
    methods: {
      POST: {
        name: "touch_templates_activate",
        access: "read",
        handle: postTouchActivate,
      },
    },
  },
  {
    shape: "stream_sub",
    sub: "_aggregate",
    methods: {
      POST: { name: "aggregate_post", access: "read", handle: postAggregate },
    },
  },
  {
    shape: "path",
    path: "/v1/streams",
    methods: {
      // `read` on some stream; the list holds only the readable ones.
      GET: { name: "streams_list", access: "read", handle: listStreams },
      HEAD: { name: "streams_head", access: "read", handle: listStreams },
    },
  },
  {
    shape: "path",
    path: "/v1/traces",
    methods: {
      // Any key here; the handler checks `write` on --otlp-traces-stream.
      POST: { name: "otlp_traces", access: "key", handle: postTraces },
    },
  },
  {
    shape: "path",
    path: "/v1/observe/request",
    methods: {
      // `read` on some stream; the handler checks `read` on both it names.
      GET: {
        name: "observe_request_get",
        access: "read",
        handle: getObserveRequest,
      },
      POST: {
        name: "observe_request_post",
        access: "read",
        handle: postObserveRequest,
      },
    },
  },
  {
    shape: "path",
    path: "/health",
    methods: {
      // Any key; no key with --public-health (the status only).
      GET: { name: "health_get", access: "key", handle: getHealth },
      HEAD: { name: "health_head", access: "key", handle: getHealth },
    },
  },
  {
    shape: "path",
    path: "/v1/server/_access",
    methods: {
      // Any key: its own id, scopes and streams.
      GET: { name: "access_get", access: "key", handle: getAccess },
    },
  },
  {
    shape: "path",
    path: "/metrics",
    methods: {
      // Admin; no key with --public-metrics.
      GET: { name: "metrics_get", access: "admin", handle: getMetrics },
      HEAD: { name: "metrics_head", access: "admin", handle: getMetrics },
    },
  },
  {
    shape: "path",
    path: "/v1/server/_details",
    methods: {
      // Admin, always (limits, memory, the largest streams' names).
      GET: {
        name: "server_details_get",
        access: "admin",
        handle: getServerDetails,
      },
      HEAD: {
        name: "server_details_head",
        access: "admin",
        handle: getServerDetails,
      },
    },
  },
];

/**
 * The console (`--console`, on by default): static pages that need no key
 * (`public`); what they show comes from the routes above, called with the
 * user's key.
 */
export const CONSOLE_ROUTES: readonly Route[] = [
  ...["/console", "/console/server"].map((path): Route => ({
    shape: "path",
    path,
    methods: {
      GET: { name: "console_page", access: "public", handle: getConsolePage },
      HEAD: { name: "console_head", access: "public", handle: getConsolePage },
    },
  })),
  {
    shape: "prefix",
    path: "/console/stream/",
    methods: {
      GET: { name: "console_page", access: "public", handle: getConsolePage },
      HEAD: { name: "console_head", access: "public", handle: getConsolePage },
    },
  },
  {
    shape: "prefix",
    path: "/console/assets/",
    methods: {
      GET: { name: "console_asset", access: "public", handle: getConsoleAsset },
      HEAD: {
        name: "console_asset_head",
        access: "public",
        handle: getConsoleAsset,
      },
    },
  },
];
