/**
 * @module
 * The route table of the stream API: one row per path shape, each method
 * named. A new subresource (`_schema`, `pk/{key}`, `touch/meta`) or path
 * (`/metrics`) is one more row here; `Allow`, the CORS preflight and the
 * reserved-name rules follow from the table (see `router.ts`).
 */

import type { HttpConfig } from "../config.ts";
import type { Route } from "./router.ts";
import { getDetails } from "./details_route.ts";
import { getHealth } from "./health_route.ts";
import { listStreams } from "./list_route.ts";
import { getMetrics, getServerDetails } from "./ops_routes.ts";
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
      GET: { name: "stream_get", handle: getStream },
      HEAD: { name: "stream_head", handle: headStream },
      POST: { name: "stream_append", handle: postStream },
      PUT: { name: "stream_create", handle: putStream },
      DELETE: { name: "stream_delete", handle: deleteStream },
    },
  },
  {
    shape: "stream_sub",
    sub: "_details",
    methods: {
      GET: { name: "details_get", handle: getDetails },
      HEAD: { name: "details_head", handle: getDetails },
    },
  },
  {
    shape: "path",
    path: "/v1/streams",
    methods: {
      GET: { name: "streams_list", handle: listStreams },
      HEAD: { name: "streams_head", handle: listStreams },
    },
  },
  {
    shape: "path",
    path: "/health",
    methods: {
      GET: { name: "health_get", handle: getHealth },
      HEAD: { name: "health_head", handle: getHealth },
    },
  },
  {
    shape: "path",
    path: "/metrics",
    methods: {
      GET: { name: "metrics_get", handle: getMetrics },
      HEAD: { name: "metrics_head", handle: getMetrics },
    },
  },
  {
    shape: "path",
    path: "/v1/server/_details",
    methods: {
      GET: { name: "server_details_get", handle: getServerDetails },
      HEAD: { name: "server_details_head", handle: getServerDetails },
    },
  },
];

/**
 * Route names that need the `admin` scope when API-key auth is on, and the
 * flag that opens each to everyone (`undefined`: none). With auth off every
 * route is public.
 */
export const ADMIN_ROUTES: Readonly<
  Record<string, keyof HttpConfig | undefined>
> = {
  metrics_get: "publicMetrics",
  metrics_head: "publicMetrics",
  server_details_get: undefined,
  server_details_head: undefined,
  health_get: "publicHealth",
  health_head: "publicHealth",
};

/** Whether route `name` needs the `admin` scope under API-key auth. */
export function needsAdmin(name: string, http: HttpConfig): boolean {
  if (!Object.hasOwn(ADMIN_ROUTES, name)) return false;
  const opener = ADMIN_ROUTES[name];
  return opener === undefined || http[opener] !== true;
}
