/**
 * @module
 * The registry of profile kinds: one module per kind, looked up by name.
 * Adding a profile means adding one row here.
 */

import { evlogProfile } from "./evlog.ts";
import { genericProfile } from "./generic.ts";
import { metricsProfile } from "./metrics.ts";
import { otelTracesProfile } from "./otel_traces.ts";
import { stateProtocolProfile } from "./state_protocol.ts";
import type { Profile, ProfileKind, ProfileOptions } from "./profile.ts";

// Each profile narrows its options type; the registry hands them out by kind,
// and a caller only passes a profile options its own `validate` produced.
const PROFILES: Partial<Record<ProfileKind, Profile<ProfileOptions>>> = {
  evlog: evlogProfile as unknown as Profile<ProfileOptions>,
  generic: genericProfile as unknown as Profile<ProfileOptions>,
  metrics: metricsProfile as unknown as Profile<ProfileOptions>,
  "otel-traces": otelTracesProfile as unknown as Profile<ProfileOptions>,
  "state-protocol": stateProtocolProfile as unknown as Profile<ProfileOptions>,
};

/** The profile module of `kind`, or undefined for an unknown kind. */
export function profileFor(kind: string): Profile<ProfileOptions> | undefined {
  return Object.hasOwn(PROFILES, kind)
    ? PROFILES[kind as ProfileKind]
    : undefined;
}

/** The kinds this server supports, sorted (for error messages). */
export function supportedKinds(): string[] {
  return Object.keys(PROFILES).sort();
}
