/**
 * @module
 * Invariant checks. A failed assertion is our own bug, never bad input:
 * it throws `AssertionError`, is logged, and becomes a 500 (or exits at startup).
 */

/** Thrown when one of our own invariants does not hold. */
export class AssertionError extends Error {
  /** Creates an assertion failure with the reason it should have held. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

/** Throws `AssertionError` with `why` unless `condition` holds. */
export function assert(condition: unknown, why: string): asserts condition {
  if (!condition) throw new AssertionError(why);
}
