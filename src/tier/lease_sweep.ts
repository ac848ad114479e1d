/**
 * @module
 * The lease sweep (PostgreSQL full mode, several nodes): every
 * `LEASE_SWEEP_INTERVAL_MS` the tier walks one page of the streams' leases
 * (`StreamLeases.sweep`), which takes the leases placement gives this node
 * (idle streams too, so tiering work spreads when nodes join or leave) and
 * lets go of the others. Each stream it then holds with records no manifest
 * names yet is reconciled with the database: when the node's view is behind
 * the segment rows (another node sealed or published meanwhile) or its
 * engine is behind the committed tail (announcements missed), the rows are
 * taken again and both loops look at it. So a held lease with unpublished
 * work always makes progress, whatever this node heard.
 */

import { LEASE_SWEEP_INTERVAL_MS, LEASE_SWEEP_STREAMS_MAX } from "../limits.ts";
import type { StreamInfo } from "../engine/types.ts";
import type { HeldStream } from "../storage/manifest_generations.ts";
import type { TierContext } from "./_context.ts";
import { holdsLease } from "./seal_loop.ts";

/** Lagging streams remembered at most (a few pages' worth). */
const LAGGING_MAX = 4 * LEASE_SWEEP_STREAMS_MAX;

/** What the sweep needs from the tier. */
export interface LeaseSweepHooks {
  /** Committed state of stream `id` as the engine has it. */
  info(id: number): StreamInfo | undefined;
  /** Both loops look at stream `id` on their next pass. */
  look(id: number): void;
  /** The engine missed commits of stream `id`: read its row again. */
  refresh(id: number): void;
}

/** Where the walk over the leases is, and when its next page is due. */
export interface LeaseSweepState {
  /** The next page starts after this stream id. */
  afterId: number;
  /** No page before this time (epoch ms). */
  nextAtMs: number;
  /**
   * Held streams the engine was behind on (or did not know), with the
   * database's tail then: still behind it a sweep later, they are reloaded
   * (an announcement in flight would have caught up by then).
   */
  lagging: Map<number, number>;
}

/** A sweep that starts at the first stream, at once. */
export function freshSweep(): LeaseSweepState {
  return { afterId: 0, nextAtMs: 0, lagging: new Map() };
}

/** Sweeps one page when due; does nothing without leases. */
export function sweepLeases(
  ctx: TierContext,
  state: LeaseSweepState,
  hooks: LeaseSweepHooks,
): void {
  const leases = ctx.leases;
  const now = ctx.clock.now();
  if (leases === undefined || now < state.nextAtMs) return;
  state.nextAtMs = now + LEASE_SWEEP_INTERVAL_MS;
  const page = leases.sweep(state.afterId, now);
  state.afterId = page.next ?? 0;
  // Streams that left the walk (gone, or no longer held) are forgotten.
  if (state.lagging.size > LAGGING_MAX) state.lagging.clear();
  for (const held of page.held) {
    if (ctx.closed()) return;
    reconcile(ctx, state, held, hooks);
  }
}

/** Brings this node's view of `held` up to the database's, and looks at it. */
function reconcile(
  ctx: TierContext,
  state: LeaseSweepState,
  held: HeldStream,
  hooks: LeaseSweepHooks,
): void {
  const id = held.streamId;
  const info = hooks.info(id);
  const engineTail = info?.tailPos ?? -1;
  if (engineTail < held.tailPos) {
    // Created or appended to elsewhere without this node hearing of it
    // since the last sweep: its row is read again.
    const seen = state.lagging.get(id);
    if (seen !== undefined && engineTail < seen) hooks.refresh(id);
    state.lagging.set(id, held.tailPos);
  } else state.lagging.delete(id);
  if (info === undefined) return;
  const s = ctx.streams.ensure(info.id, info.fork?.position ?? 0);
  const behind = s.sealedThrough < (held.sealedThrough ?? s.basePos) ||
    s.walStart < (held.uploadedThrough ?? s.basePos);
  if (behind) s.adoptedToken = undefined; // take the rows again
  if (holdsLease(ctx, s)) hooks.look(s.id);
}
