/**
 * @module
 * Per-route request counters, built once from the route table: one
 * `RouteMeter` per route name (plus one for requests no route took, per
 * method, and one for CORS preflights). Recording a request is a map
 * lookup by the route name, an array increment and a histogram bucket: no
 * label string is built on the request path. `/metrics` reads the meters
 * at scrape time.
 */

import { Histogram } from "../histogram.ts";

/** The `status` label values, by `status / 100 - 1`. */
export const STATUS_CLASSES: readonly string[] = [
  "1xx",
  "2xx",
  "3xx",
  "4xx",
  "5xx",
];

/** The route label of requests that matched no route's method. */
export const UNMATCHED_ROUTE = "unmatched";
/** The route label of CORS preflights. */
export const PREFLIGHT_ROUTE = "preflight";
/** Methods that get their own `unmatched` meter; the rest share `other`. */
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/** One route's counters. */
export class RouteMeter {
  /** The route name (`stream_append`). */
  readonly route: string;
  /** The HTTP method, or `other`. */
  readonly method: string;
  /** Requests by status class (`STATUS_CLASSES`). */
  readonly statuses: Float64Array = new Float64Array(STATUS_CLASSES.length);
  /** Time to the response head, in seconds. */
  readonly seconds: Histogram = new Histogram();

  /** A meter for `route` reached by `method`. */
  constructor(route: string, method: string) {
    this.route = route;
    this.method = method;
  }

  /** Counts one response. */
  record(status: number, seconds: number): void {
    const c = (status / 100) | 0;
    this.statuses[c >= 1 && c <= 5 ? c - 1 : 4]++;
    this.seconds.observe(seconds);
  }
}

/** A route name and the method that reaches it. */
export interface RouteName {
  /** Route name. */
  name: string;
  /** HTTP method. */
  method: string;
}

/** Every meter, by route name. */
export class HttpMeters {
  readonly #byName = new Map<string, RouteMeter>();
  readonly #unmatched = new Map<string, RouteMeter>();
  readonly #other: RouteMeter;
  /** The preflight meter. */
  readonly preflight: RouteMeter;

  /** Meters for `routes` (names must be unique). */
  constructor(routes: readonly RouteName[]) {
    for (const { name, method } of routes) {
      if (this.#byName.has(name)) throw new Error(`route ${name} twice`);
      this.#byName.set(name, new RouteMeter(name, method));
    }
    for (const method of METHODS) {
      this.#unmatched.set(method, new RouteMeter(UNMATCHED_ROUTE, method));
    }
    this.#other = new RouteMeter(UNMATCHED_ROUTE, "other");
    this.preflight = new RouteMeter(PREFLIGHT_ROUTE, "OPTIONS");
  }

  /** The meter of route `name`, if the table has it. */
  route(name: string): RouteMeter | undefined {
    return this.#byName.get(name);
  }

  /** The meter of a request no route took. */
  unmatched(method: string): RouteMeter {
    return this.#unmatched.get(method) ?? this.#other;
  }

  /** Every meter, routes first. */
  all(): RouteMeter[] {
    return [
      ...this.#byName.values(),
      ...this.#unmatched.values(),
      this.#other,
      this.preflight,
    ];
  }
}
