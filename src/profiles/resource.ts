/**
 * @module
 * The `_profile` resource (profiles.md §1) as pure functions: parse a
 * `POST _profile` body into validated options, render the stored resource,
 * and decide whether a profile may be installed on a stream and what
 * installing it changes. The HTTP route and the engine apply the plan.
 */

import { fail, ok, type Result } from "../errors.ts";
import {
  type CanonicalRegistry,
  isObject,
  type ProfileKind,
  type ProfileOptions,
} from "./profile.ts";
import { profileFor, supportedKinds } from "./registry.ts";

/** The resource's `apiVersion`. */
export const PROFILE_API_VERSION = "durable.streams/profile/v1";

/** The profile of a stream that never declared one. */
export const GENERIC_OPTIONS: ProfileOptions = { kind: "generic" };

/** The body `GET _profile` answers and `POST _profile` echoes. */
export interface ProfileResource {
  /** Always `PROFILE_API_VERSION`. */
  apiVersion: typeof PROFILE_API_VERSION;
  /** The stored options, defaults filled in. */
  profile: ProfileOptions;
}

/** Renders the stored options as the resource. */
export function profileResource(options: ProfileOptions): ProfileResource {
  return { apiVersion: PROFILE_API_VERSION, profile: options };
}

/**
 * Parses a `POST _profile` body: only `apiVersion` and `profile` keys, the
 * right `apiVersion` when given, a known `kind`, and options that kind
 * accepts. Every failure is a 400 `bad_request`.
 */
export function parseProfileRequest(body: unknown): Result<ProfileOptions> {
  if (!isObject(body)) {
    return fail("bad_request", "Profile request body must be a JSON object");
  }
  for (const key of Object.keys(body)) {
    if (key !== "apiVersion" && key !== "profile") {
      return fail("bad_request", `Unknown key "${key}" in profile request`);
    }
  }
  if (
    body.apiVersion !== undefined && body.apiVersion !== PROFILE_API_VERSION
  ) {
    return fail(
      "bad_request",
      `"apiVersion" must be "${PROFILE_API_VERSION}"`,
    );
  }
  if (body.profile === undefined) {
    return fail("bad_request", 'Profile request needs a "profile" object');
  }
  if (!isObject(body.profile)) {
    return fail("bad_request", '"profile" must be an object');
  }
  const kind = body.profile.kind;
  const profile = typeof kind === "string" ? profileFor(kind) : undefined;
  if (profile === undefined) {
    const supported = supportedKinds().join(", ");
    return fail(
      "bad_request",
      `Unsupported profile kind ${
        JSON.stringify(kind ?? null)
      }; supported kinds: ${supported}`,
      { supported: supportedKinds() },
    );
  }
  return profile.validate(body.profile);
}

/** What the installer knows about the stream. */
export interface StreamFacts {
  /** The stream's content type as created. */
  contentType: string;
  /** Whether the stream holds no records. */
  empty: boolean;
  /** The profile installed now (`GENERIC_OPTIONS` when none was declared). */
  current: ProfileOptions;
}

/** What installing a profile changes. */
export interface InstallPlan {
  /** The options to store. */
  options: ProfileOptions;
  /** The canonical registry to install (version 1), or null to keep it. */
  registry: CanonicalRegistry | null;
  /** Whether the stream's touch state and templates are to be deleted. */
  deleteTouchState: boolean;
}

/**
 * Decides whether `next` may be installed on a stream (null when the stream
 * is missing or expired: 404) and what installing it changes.
 */
export function planProfileInstall(
  stream: StreamFacts | null,
  next: ProfileOptions,
): Result<InstallPlan> {
  if (stream === null) {
    return fail("stream_not_found", "Stream not found");
  }
  const profile = profileFor(next.kind);
  if (profile === undefined) {
    return fail("bad_request", `Unsupported profile kind "${next.kind}"`);
  }
  if (next.kind !== "generic" && !isJsonContentType(stream.contentType)) {
    return fail(
      "bad_request",
      `Profile "${next.kind}" needs a stream of content type application/json, not "${stream.contentType}"`,
    );
  }
  const sameKind = stream.current.kind === next.kind;
  if (profile.installsRegistry && !stream.empty && !sameKind) {
    return fail(
      "profile_conflict",
      `Profile "${next.kind}" must be installed before appending data (the stream has the "${stream.current.kind}" profile and is not empty)`,
      { current: stream.current.kind },
    );
  }
  return ok({
    options: next,
    registry: profile.canonicalRegistry(next),
    deleteTouchState: stream.current.kind === "state-protocol" &&
      next.kind !== "state-protocol",
  });
}

/** Whether a content type is `application/json`, parameters ignored. */
export function isJsonContentType(contentType: string): boolean {
  const semi = contentType.indexOf(";");
  const base = (semi < 0 ? contentType : contentType.slice(0, semi)).trim();
  return base.toLowerCase() === "application/json";
}

/** Whether `kind` names a profile this server supports. */
export function isProfileKind(kind: string): kind is ProfileKind {
  return profileFor(kind) !== undefined;
}
