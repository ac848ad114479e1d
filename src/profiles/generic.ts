/**
 * @module
 * The `generic` profile (profiles.md §3): no options beyond the kind, no
 * normalization, no canonical registry. A stream that never declared a
 * profile has this one.
 */

import { fail, ok, type Result } from "../errors.ts";
import {
  type CanonicalRecord,
  checkKeys,
  isObject,
  type JsonObject,
  type Profile,
} from "./profile.ts";

/** Options of the generic profile. */
export type GenericOptions = { kind: "generic" };

/** The generic profile: elements are stored as given. */
export const genericProfile: Profile<GenericOptions> = {
  kind: "generic",
  installsRegistry: false,
  passThrough: true,
  validate(raw: unknown): Result<GenericOptions> {
    if (!isObject(raw)) {
      return fail("bad_request", '"profile" must be an object');
    }
    const keys = checkKeys(raw, ["kind"], "profile");
    if (!keys.ok) return keys;
    return ok({ kind: "generic" });
  },
  normalize(element: unknown): Result<CanonicalRecord[]> {
    // Generic JSON streams accept any JSON value; a record is stored as is.
    return ok([{ value: element as JsonObject, routingKey: null }]);
  },
  routingKey(): string | null {
    return null;
  },
  canonicalRegistry(): null {
    return null;
  },
};
