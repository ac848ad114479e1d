/**
 * @module
 * The route table of the stream API: one row per path shape, each method
 * named. A new subresource (`_schema`, `pk/{key}`, `touch/meta`) or path
 * (`/metrics`) is one more row here; `Allow`, the CORS preflight and the
 * reserved-name rules follow from the table (see `router.ts`).
 */

import type { Route } from "./router.ts";
import { getDetails } from "./details_route.ts";
import { getHealth } from "./health_route.ts";
import { listStreams } from "./list_route.ts";
import { getSchema, postSchema } from "./schema_route.ts";
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
    shape: "stream_sub",
    sub: "_schema",
    methods: {
      GET: { name: "schema_get", handle: getSchema },
      HEAD: { name: "schema_head", handle: getSchema },
      POST: { name: "schema_update", handle: postSchema },
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
];
