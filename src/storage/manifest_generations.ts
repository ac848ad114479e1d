/**
 * @module
 * Manifest generations (PostgreSQL full mode, spec postgres-multinode §6):
 * each stream's published manifest has a generation in the database, and a
 * publisher first moves it from the one it knows to the next with a
 * compare-and-set. A publisher that finds it moved (another node published
 * meanwhile) writes no manifest, so it can never roll a newer one back from
 * a stale view. `PgManifestGenerations` keeps them in the `manifests` table
 * through the synchronous client.
 *
 * Stream leases: only the node holding a stream's lease seals, uploads and
 * publishes it; its token grows whenever the lease changes hands, and a
 * publication names the token it holds, so a node that lost the lease
 * (paused past its expiry, say) publishes nothing.
 */

import type { PgSyncClient, SyncRow } from "./pg_sync.ts";
import type { SegmentRow } from "./wal_store.ts";
import {
  LEASE_SWEEP_MOVES_MAX,
  LEASE_SWEEP_STREAMS_MAX,
  PG_HEARTBEAT_MS,
} from "../limits.ts";

/** Where manifest generations are kept. */
export interface ManifestGenerations {
  /** The generation last published for stream `streamId` (0: none yet). */
  current(streamId: number): number;
  /**
   * Moves stream `streamId`'s generation from `expected` to `expected + 1`;
   * false, changing nothing, when it is no longer `expected` or (given
   * `leaseToken`) the stream's lease no longer has that token.
   */
  advance(
    streamId: number,
    expected: number,
    nowMs: number,
    leaseToken?: number,
  ): boolean;
}

/** Who seals, uploads and publishes each stream (spec §6). */
export interface StreamLeases {
  /**
   * The lease token of stream `streamId` if this node holds its lease
   * (taking it when free or expired, renewing it when due), else undefined.
   */
  hold(streamId: number, nowMs: number): number | undefined;
  /** Forgets the lease of `streamId` (found lost, or the stream is gone). */
  forget(streamId: number): void;
  /**
   * On taking stream `streamId`'s lease with `token` (from another node, or
   * back after losing it): the stream's segment rows in position order, as
   * the previous owners left them (a row no manifest names yet is rebuilt
   * from the WAL at upload when its file is not here). Undefined when the
   * lease moved on meanwhile.
   */
  takeOver(streamId: number, token: number): SegmentRow[] | undefined;
  /** Stream `streamId`'s uploaded segment rows, in position order. */
  uploadedSegments(streamId: number): SegmentRow[];
  /**
   * Stream `streamId` is gone: who deletes its objects. `release` when this
   * node may (it holds the lease, the lease expired, or nobody took one):
   * the lease is then retired for good, with a new token that fences its
   * last holder's commits, and this node claims the stream's release log
   * row for a lease period; `wait` while another live node holds the lease
   * (that node releases it, or its lease expires first) or another node's
   * claim on the release has not run out; `done` once the release log row
   * is gone (another node finished the release). A node that dies
   * mid-release leaves its row claimed: once the claim runs out, the next
   * node to ask gets `release`.
   */
  claimRelease(streamId: number, nowMs: number): "release" | "done" | "wait";
  /**
   * One page of the lease sweep: looks at up to `LEASE_SWEEP_STREAMS_MAX`
   * streams with ids above `afterId`, takes the leases placement gives this
   * node (idle streams too) and lets go of the ones it gives another live
   * node, at most `LEASE_SWEEP_MOVES_MAX` of either. Returns the streams
   * whose lease this node now holds and that have records no manifest
   * names yet (as the database has them), and the id to continue after
   * (undefined: the walk is done, start again from 0).
   */
  sweep(afterId: number, nowMs: number): LeaseSweep;
}

/** What `StreamLeases.sweep` found. */
export interface LeaseSweep {
  /** Held streams with unpublished records, as the database has them. */
  held: HeldStream[];
  /** The id the next page starts after; undefined at the end. */
  next: number | undefined;
}

/** A held stream with unpublished records (`LeaseSweep.held`). */
export interface HeldStream {
  /** Stream id. */
  streamId: number;
  /** Its committed tail. */
  tailPos: number;
  /** The end of its last segment row (undefined: none). */
  sealedThrough: number | undefined;
  /** The end of its last uploaded segment row (undefined: none). */
  uploadedThrough: number | undefined;
}

/** The holder of a retired lease (its stream is gone and released). */
const RETIRED = "";

/** `ManifestGenerations` in PostgreSQL's `manifests` table. */
export class PgManifestGenerations implements ManifestGenerations {
  #client: PgSyncClient;

  /** Uses `client` (the caller's to close) on a migrated schema. */
  constructor(client: PgSyncClient) {
    this.#client = client;
  }

  current(streamId: number): number {
    const rows = this.#client.query(
      "SELECT generation FROM manifests WHERE stream_id = $1",
      [streamId],
      "Cannot read the manifest generation",
    );
    return rows.length === 0 ? 0 : Number(rows[0].generation);
  }

  advance(
    streamId: number,
    expected: number,
    nowMs: number,
    leaseToken?: number,
  ): boolean {
    // $4 null: no lease to check.
    const fenced = `($4::bigint IS NULL OR EXISTS (SELECT 1 FROM stream_leases
      WHERE stream_id = $1 AND token = $4))`;
    const statement = expected === 0
      ? {
        text: `INSERT INTO manifests SELECT $1, 1, $3 WHERE ${fenced}
          AND $2::bigint = 0
          ON CONFLICT (stream_id) DO UPDATE SET generation = 1,
          published_at_ms = $3 WHERE manifests.generation = 0`,
        values: [streamId, expected, nowMs, leaseToken ?? null],
        expectRows: true,
      }
      : {
        text: `UPDATE manifests SET generation = generation + 1,
          published_at_ms = $3 WHERE stream_id = $1 AND generation = $2
          AND ${fenced}`,
        values: [streamId, expected, nowMs, leaseToken ?? null],
        expectRows: true,
      };
    return this.#client.transactionIf(
      [statement],
      "Cannot move the manifest generation",
    ) !== undefined;
  }
}

/** How often the live nodes are read again, in ms (the heartbeat interval). */
const LIVE_NODES_REFRESH_MS = PG_HEARTBEAT_MS;
/** A node whose heartbeat is older than this is dead, in ms. */
const NODE_DEAD_AFTER_MS = 3 * PG_HEARTBEAT_MS;

/**
 * `StreamLeases` in PostgreSQL's `stream_leases` table, for node `nodeId`.
 * When `nodeId` is registered in the `nodes` table (several nodes), each
 * stream goes to the live node with the highest rendezvous hash of (node,
 * stream): a node takes only the leases of streams it is preferred for and
 * lets the others go (expired at once, token kept, so the preferred node
 * takes them with a new token). A node joining or dying moves only the
 * streams whose preferred node changes.
 *
 * With `registered` (the node heartbeats in `nodes`), a node missing from
 * the live nodes (its heartbeat went stale: it was paused, or cut off from
 * the database) takes and keeps no lease until its heartbeat is fresh
 * again: the others count it dead and take its streams meanwhile.
 */
export class PgStreamLeases implements StreamLeases {
  #client: PgSyncClient;
  #nodeId: string;
  #leaseMs: number;
  #registered: boolean;
  #held = new Map<number, { token: number; renewAtMs: number }>();
  #live: { nodes: string[]; readAtMs: number; self: boolean } = {
    nodes: [],
    readAtMs: -1,
    self: false,
  };

  /**
   * Leases of `leaseMs` for node `nodeId` through `client`; `registered`
   * when the node heartbeats in the `nodes` table.
   */
  constructor(
    client: PgSyncClient,
    nodeId: string,
    leaseMs: number,
    registered = false,
  ) {
    this.#client = client;
    this.#nodeId = nodeId;
    this.#leaseMs = leaseMs;
    this.#registered = registered;
  }

  hold(streamId: number, nowMs: number): number | undefined {
    const held = this.#held.get(streamId);
    // Taking a lease this node does not hold may move a stream: decide on a
    // view of the nodes younger than a lease, or a node that just joined
    // and took an idle stream's (unrenewed, soon expired) lease would lose
    // it again to a node that has not seen it join yet.
    const nodes = this.#liveNodes(
      nowMs,
      held === undefined
        ? Math.min(LIVE_NODES_REFRESH_MS, Math.floor(this.#leaseMs / 3))
        : LIVE_NODES_REFRESH_MS,
    );
    if (this.#registered && !this.#live.self) {
      this.#held.delete(streamId); // counted dead: its leases are moving
      return undefined;
    }
    const preferred = preferredNode(nodes, streamId);
    if (preferred !== undefined && preferred !== this.#nodeId) {
      if (held !== undefined) this.#release(streamId, held.token);
      return undefined; // another live node's stream
    }
    if (held !== undefined && nowMs < held.renewAtMs) return held.token;
    // Take a free or expired lease (a new token), or renew our own.
    const rows = this.#client.query(
      `INSERT INTO stream_leases VALUES ($1, $2, 1, $3)
        ON CONFLICT (stream_id) DO UPDATE SET
        token = CASE WHEN stream_leases.node_id = $2 THEN stream_leases.token
          ELSE stream_leases.token + 1 END,
        node_id = $2, expires_at_ms = $3
        WHERE stream_leases.node_id = $2 OR stream_leases.expires_at_ms < $4
        RETURNING token`,
      [streamId, this.#nodeId, nowMs + this.#leaseMs, nowMs],
      "Cannot take a stream lease",
    );
    if (rows.length === 0) {
      this.#held.delete(streamId);
      return undefined;
    }
    const token = Number(rows[0].token);
    this.#held.set(streamId, {
      token,
      renewAtMs: nowMs + Math.floor(this.#leaseMs / 3),
    });
    return token;
  }

  /**
   * Lets the lease of `streamId` go: expired at once with its token kept
   * (a row deleted would restart the token at 1 and let an old holder's
   * fenced writes pass again).
   */
  #release(streamId: number, token: number): void {
    this.#held.delete(streamId);
    this.#client.query(
      `UPDATE stream_leases SET expires_at_ms = 0
        WHERE stream_id = $1 AND node_id = $2 AND token = $3`,
      [streamId, this.#nodeId, token],
      "Cannot release a stream lease",
    );
  }

  /**
   * The registered nodes with a recent heartbeat, read again once the copy
   * is `maxAgeMs` old (`LIVE_NODES_REFRESH_MS` by default); empty when this
   * node is not among them (it does not register: leases go first come,
   * first served).
   */
  #liveNodes(nowMs: number, maxAgeMs = LIVE_NODES_REFRESH_MS): string[] {
    if (nowMs - this.#live.readAtMs < maxAgeMs) {
      return this.#live.nodes;
    }
    const rows = this.#client.query(
      "SELECT node_id FROM nodes WHERE heartbeat_at_ms > $1",
      [nowMs - NODE_DEAD_AFTER_MS],
      "Cannot read the live nodes",
    );
    const nodes = rows.map((row) => String(row.node_id));
    const self = nodes.includes(this.#nodeId);
    this.#live = { nodes: self ? nodes : [], readAtMs: nowMs, self };
    return this.#live.nodes;
  }

  sweep(afterId: number, nowMs: number): LeaseSweep {
    // A sweep moves leases: it decides on a fresh view of the live nodes.
    this.#liveNodes(nowMs, 0);
    const rows = this.#client.query(
      `SELECT s.id, s.tail_pos, coalesce(s.fork_pos, 0) AS base_pos,
          l.node_id, l.token, l.expires_at_ms,
          (SELECT max(end_pos) FROM segments g WHERE g.stream_id = s.id)
            AS sealed_through,
          (SELECT max(end_pos) FROM segments g
            WHERE g.stream_id = s.id AND g.uploaded) AS uploaded_through
        FROM streams s LEFT JOIN stream_leases l ON l.stream_id = s.id
        WHERE s.id > $1 ORDER BY s.id LIMIT $2`,
      [afterId, LEASE_SWEEP_STREAMS_MAX],
      "Cannot read the stream leases",
    );
    const held: HeldStream[] = [];
    let moves = 0;
    let next: number | undefined;
    for (const row of rows) {
      const streamId = Number(row.id);
      if (moves >= LEASE_SWEEP_MOVES_MAX) break; // the next page goes on
      next = streamId;
      const holder = row.node_id === null ? undefined : String(row.node_id);
      if (holder === RETIRED) continue; // gone and released
      const found = sweptStream(row);
      const unpublished = found.tailPos >
        (found.uploadedThrough ?? Number(row.base_pos));
      const step = this.#sweepStep(streamId, holder, row, unpublished, nowMs);
      if (step === "taken" || step === "released") moves++;
      if ((step === "taken" || step === "held") && unpublished) {
        held.push(found);
      }
    }
    if (
      rows.length < LEASE_SWEEP_STREAMS_MAX && moves < LEASE_SWEEP_MOVES_MAX
    ) {
      next = undefined; // walked to the end: start again
    }
    return { held, next };
  }

  /**
   * The sweep's step for one stream whose lease row says `holder` (and
   * `row`'s token and expiry): `taken` or `released` when this node took
   * or let go of the lease, `held` when it kept it, `none` otherwise.
   */
  #sweepStep(
    streamId: number,
    holder: string | undefined,
    row: SyncRow,
    unpublished: boolean,
    nowMs: number,
  ): "taken" | "released" | "held" | "none" {
    const nodes = this.#liveNodes(nowMs);
    if (this.#registered && !this.#live.self) return "none";
    const preferred = preferredNode(nodes, streamId);
    const mine = holder === this.#nodeId;
    const expired = holder === undefined ||
      Number(row.expires_at_ms) < nowMs;
    if (preferred !== undefined && preferred !== this.#nodeId) {
      // Placement gives it to another live node: let go of it (it may take
      // an expired lease already).
      if (!mine || expired) return "none";
      this.#release(streamId, Number(row.token));
      return "released";
    }
    if (mine) {
      // An idle stream's lease may lapse: nobody else is preferred for it.
      if (!unpublished) return "none";
      return this.hold(streamId, nowMs) === undefined ? "none" : "held";
    }
    if (!expired) return "none"; // its holder lets go of it first
    // Without placement, or never leased: taken only for work to do.
    if (!unpublished && (preferred === undefined || holder === undefined)) {
      return "none";
    }
    return this.hold(streamId, nowMs) === undefined ? "none" : "taken";
  }

  forget(streamId: number): void {
    this.#held.delete(streamId);
  }

  takeOver(streamId: number, token: number): SegmentRow[] | undefined {
    const [fence, rows] = this.#client.transaction([
      {
        text: "SELECT 1 FROM stream_leases WHERE stream_id = $1 AND token = $2",
        values: [streamId, token],
      },
      {
        text: `SELECT start_pos, end_pos, size_bytes, uploaded FROM segments
          WHERE stream_id = $1 ORDER BY start_pos`,
        values: [streamId],
      },
    ], "Cannot take over a stream's segments");
    if (fence.length === 0) {
      this.#held.delete(streamId);
      return undefined;
    }
    return rows.map((row) => segmentFromRow(streamId, row));
  }

  claimRelease(streamId: number, nowMs: number): "release" | "done" | "wait" {
    this.#held.delete(streamId);
    // Retired: the token moves on and the lease never expires, so neither
    // a late holder's fenced commits nor a new holder get through.
    const claimed = this.#client.query(
      `INSERT INTO stream_leases VALUES ($1, $2, 1, ${Number.MAX_SAFE_INTEGER})
        ON CONFLICT (stream_id) DO UPDATE SET node_id = $2,
        token = stream_leases.token + 1,
        expires_at_ms = ${Number.MAX_SAFE_INTEGER}
        WHERE stream_leases.node_id <> $2 AND (stream_leases.node_id = $3
          OR stream_leases.expires_at_ms < $4)
        RETURNING token`,
      [streamId, RETIRED, this.#nodeId, nowMs],
      "Cannot claim a stream's release",
    );
    if (claimed.length > 0) {
      this.#claimLogged(streamId, nowMs); // none for a delete of old
      return "release";
    }
    const rows = this.#client.query(
      "SELECT node_id FROM stream_leases WHERE stream_id = $1",
      [streamId],
      "Cannot read a stream lease",
    );
    if (rows.length === 0 || String(rows[0].node_id) !== RETIRED) return "wait";
    // Retired by an earlier claim: released unless its log row is left.
    if (this.#claimLogged(streamId, nowMs)) return "release";
    const left = this.#client.query(
      "SELECT 1 FROM releases WHERE stream_id = $1",
      [streamId],
      "Cannot read the release log",
    );
    return left.length > 0 ? "wait" : "done";
  }

  /**
   * Claims stream `streamId`'s release log row for this node for a lease
   * period, when it is unclaimed, ours, or its claim ran out; false when
   * another node's claim holds or there is no row.
   */
  #claimLogged(streamId: number, nowMs: number): boolean {
    return this.#client.query(
      `UPDATE releases SET node_id = $2, claimed_until_ms = $3
        WHERE stream_id = $1 AND (node_id IS NULL OR node_id = $2
          OR claimed_until_ms < $4)
        RETURNING stream_id`,
      [streamId, this.#nodeId, nowMs + this.#leaseMs, nowMs],
      "Cannot claim a stream's release",
    ).length > 0;
  }

  uploadedSegments(streamId: number): SegmentRow[] {
    return this.#client.query(
      `SELECT start_pos, end_pos, size_bytes, uploaded FROM segments
        WHERE stream_id = $1 AND uploaded ORDER BY start_pos`,
      [streamId],
      "Cannot read a stream's segments",
    ).map((row) => segmentFromRow(streamId, row));
  }
}

function sweptStream(row: SyncRow): HeldStream {
  return {
    streamId: Number(row.id),
    tailPos: Number(row.tail_pos),
    sealedThrough: row.sealed_through === null
      ? undefined
      : Number(row.sealed_through),
    uploadedThrough: row.uploaded_through === null
      ? undefined
      : Number(row.uploaded_through),
  };
}

function segmentFromRow(streamId: number, row: SyncRow): SegmentRow {
  return {
    streamId,
    startPos: Number(row.start_pos),
    endPos: Number(row.end_pos),
    sizeBytes: Number(row.size_bytes),
    uploaded: row.uploaded === true,
  };
}

/**
 * The node of `nodes` with the highest rendezvous hash for `streamId`
 * (undefined for none): every node computes the same answer from the same
 * list, and a node joining or leaving changes the answer only for the
 * streams it wins or held.
 */
export function preferredNode(
  nodes: string[],
  streamId: number,
): string | undefined {
  let best: string | undefined;
  let bestHash = -1;
  for (const node of nodes) {
    const hash = rendezvousHash(node, streamId);
    if (hash > bestHash || (hash === bestHash && node < best!)) {
      best = node;
      bestHash = hash;
    }
  }
  return best;
}

/** FNV-1a (32 bits) of `node:streamId`, finished with a murmur3 mix. */
function rendezvousHash(node: string, streamId: number): number {
  let h = 0x811c9dc5;
  const text = `${node}:${streamId}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
