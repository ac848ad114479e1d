/**
 * @module
 * Per-stream manifests: the JSON object that makes a stream's uploaded
 * segments visible. Publishing a manifest is the commit point of an upload
 * (docs/segments.md "Manifests"); a manifest only ever names segments that
 * were uploaded before it. Keys, building and parsing live here; this module
 * does no I/O.
 */

import { StreamError } from "../errors.ts";

/** Manifest format version. */
export const MANIFEST_VERSION = 1;

/** Prefix of every stream's objects. */
export const STREAMS_PREFIX = "streams/";

/** One uploaded segment as a manifest names it. */
export interface ManifestSegment {
  /** Object key of the segment. */
  key: string;
  /** Position of its first record. */
  startPos: number;
  /** Position after its last record. */
  endPos: number;
  /** Object size in bytes (inside a pack: the segment file's length). */
  bytes: number;
  /**
   * Set when the segment file sits inside a pack object (`key` names the
   * pack): its byte offset there; `bytes` long from it.
   */
  packOffset?: number;
}

/** A stream's published state. */
export interface Manifest {
  /** Format version, `1`. */
  version: number;
  /** Stream name. */
  name: string;
  /** Internal stream id (ids are never reused). */
  id: number;
  /** Content type. */
  contentType: string;
  /** Creation time, epoch ms. */
  createdAtMs: number;
  /** True only when the stream is closed and everything up to its tail is published. */
  closed: boolean;
  /** Sliding TTL in seconds, or null. */
  ttlSeconds: number | null;
  /** Absolute expiry, epoch ms, or null. */
  expiresAtMs: number | null;
  /** Deleted while forks still read from it. */
  softDeleted: boolean;
  /** Fork source and position, or null for a plain stream. */
  fork: { sourceId: number; sourceName: string; position: number } | null;
  /** Uploaded segments in position order, tiling `[firstPos, uploadedThrough)`. */
  segments: ManifestSegment[];
  /** Position up to which the stream's own records are published. */
  uploadedThrough: number;
  /**
   * The stream's schema registry object and the SHA-256 (hex) of its bytes;
   * absent when the stream has none.
   */
  schemaRegistry?: SchemaRegistryRef;
  /**
   * The stream's routing-key index (docs/index-format.md, "Catalog and
   * manifest"), checked by the index when restored; absent before its
   * first run.
   */
  routingIndex?: unknown;
  /**
   * The stream's profile options (with `kind`), when it declared one other
   * than `generic`; checked by the profile's module when restored.
   */
  profile?: { kind: string; [option: string]: unknown };
  /**
   * The search companions of the uploaded segments, built for the `search`
   * section whose plan hash is `hash` (docs/companions.md); absent before
   * the first is built.
   */
  companions?: ManifestCompanions;
}

/** The companion objects a manifest lists. */
export interface ManifestCompanions {
  /** Plan hash of the `search` section they were built for. */
  hash: string;
  /** One per segment that has one, in position order. */
  objects: { key: string; startPos: number; endPos: number; bytes: number }[];
}

/** A published schema registry, as a manifest names it. */
export interface SchemaRegistryRef {
  /** Object key (`schemaRegistryKey`). */
  key: string;
  /** SHA-256 of the object's bytes, lower-case hex. */
  sha256: string;
}

/** Prefix of pack objects (docs/segments.md "Packed segments"). */
export const PACKS_PREFIX = "packs/";

/** Key of pack object `seq`. */
export function packKey(seq: number): string {
  return `${PACKS_PREFIX}${pad(seq)}.pack`;
}

/** The sequence number of a `packKey`, or undefined for any other key. */
export function packSeqOfKey(key: string): number | undefined {
  const match = /^packs\/(\d{16})\.pack$/.exec(key);
  return match === null ? undefined : Number(match[1]);
}

/** Key of stream `id`'s folder: `streams/<16-digit id>/`. */
export function streamPrefix(id: number): string {
  return `${STREAMS_PREFIX}${pad(id)}/`;
}

/** Key of stream `id`'s manifest. */
export function manifestKey(id: number): string {
  return `${streamPrefix(id)}manifest.json`;
}

/** Folder of stream `id`'s manifests by generation. */
export function manifestGenerationsPrefix(id: number): string {
  return `${streamPrefix(id)}manifests/`;
}

/**
 * Key of stream `id`'s manifest of `generation` (several publishers: each
 * generation is written once, by the publisher that moved the generation
 * to it, so a late writer can never replace a newer one).
 */
export function manifestGenerationKey(id: number, generation: number): string {
  return `${manifestGenerationsPrefix(id)}${pad(generation)}.json`;
}

/**
 * The generation of a `manifestGenerationKey`, or undefined for any other
 * key.
 */
export function generationOfKey(key: string): number | undefined {
  const match = /\/manifests\/(\d{16})\.json$/.exec(key);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Key of stream `id`'s schema registry with content hash `sha256`: a new
 * key per content, so a published manifest never names an object that a
 * later change overwrote.
 */
export function schemaRegistryKey(id: number, sha256: string): string {
  return `${streamPrefix(id)}schema-registry/${sha256}.json`;
}

/** Key of the segment `[startPos, endPos)` of stream `id`. */
export function segmentKey(
  id: number,
  startPos: number,
  endPos: number,
): string {
  return `${streamPrefix(id)}segments/${pad(startPos)}-${pad(endPos)}.seg`;
}

function pad(n: number): string {
  return String(n).padStart(16, "0");
}

/** What a manifest records of its stream besides segments. */
export interface ManifestStream {
  /** Internal stream id. */
  id: number;
  /** Stream name. */
  name: string;
  /** Content type. */
  contentType: string;
  /** Creation time, epoch ms. */
  createdAtMs: number;
  /** Sliding TTL in seconds, or null. */
  ttlSeconds: number | null;
  /** Absolute expiry, epoch ms, or null. */
  expiresAtMs: number | null;
  /** Deleted while forks still read from it. */
  softDeleted: boolean;
  /** Fork source and position, or null. */
  fork: { sourceId: number; sourceName: string; position: number } | null;
  /** Closed (committed). */
  closed: boolean;
  /** Committed tail position. */
  tailPos: number;
}

/** An uploaded segment's span and size (a WAL `SegmentRow` fits). */
export interface SegmentSpan {
  /** Stream id. */
  streamId: number;
  /** Position of its first record. */
  startPos: number;
  /** Position after its last record. */
  endPos: number;
  /** Object size in bytes. */
  sizeBytes: number;
  /** Its place inside a pack object, when packed. */
  pack?: { key: string; offset: number };
}

/**
 * The manifest of `stream` naming `segments` (in position order, ending at
 * `uploadedThrough`). It says closed only once everything up to the closed
 * stream's tail is published.
 */
export function buildManifest(
  stream: ManifestStream,
  segments: readonly SegmentSpan[],
  uploadedThrough: number,
  schemaRegistry?: SchemaRegistryRef,
): Manifest {
  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    name: stream.name,
    id: stream.id,
    contentType: stream.contentType,
    createdAtMs: stream.createdAtMs,
    closed: stream.closed && uploadedThrough === stream.tailPos,
    ttlSeconds: stream.ttlSeconds,
    expiresAtMs: stream.expiresAtMs,
    softDeleted: stream.softDeleted,
    fork: stream.fork,
    segments: segments.map((s) =>
      s.pack === undefined
        ? {
          key: segmentKey(s.streamId, s.startPos, s.endPos),
          startPos: s.startPos,
          endPos: s.endPos,
          bytes: s.sizeBytes,
        }
        : {
          key: s.pack.key,
          startPos: s.startPos,
          endPos: s.endPos,
          bytes: s.sizeBytes,
          packOffset: s.pack.offset,
        }
    ),
    uploadedThrough,
  };
  if (schemaRegistry !== undefined) manifest.schemaRegistry = schemaRegistry;
  return manifest;
}

/** Serializes a manifest as UTF-8 JSON. */
export function encodeManifest(m: Manifest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(m, null, 1));
}

/** Parses and checks a manifest; bad bytes are `corrupt`. */
export function decodeManifest(bytes: Uint8Array, key: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new StreamError("corrupt", `Manifest "${key}" is not JSON`, {
      key,
    }, { cause });
  }
  const problem = manifestProblem(m);
  if (problem !== undefined) {
    throw new StreamError("corrupt", `Manifest "${key}": ${problem}`, { key });
  }
  return m;
}

/** Checks a parsed manifest (from a batch object); a bad one is `corrupt`. */
export function checkManifest(m: Manifest, key: string): Manifest {
  const problem = manifestProblem(m);
  if (problem !== undefined) {
    throw new StreamError("corrupt", `Manifest "${key}": ${problem}`, { key });
  }
  return m;
}

function isCount(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

function manifestProblem(m: Manifest): string | undefined {
  if (typeof m !== "object" || m === null) return "not an object";
  if (m.version !== MANIFEST_VERSION) return `version ${m.version}`;
  if (typeof m.name !== "string" || m.name.length === 0) return "bad name";
  if (!isCount(m.id) || m.id < 1) return "bad id";
  if (typeof m.contentType !== "string") return "bad content type";
  if (!isCount(m.createdAtMs)) return "bad createdAtMs";
  if (typeof m.closed !== "boolean" || typeof m.softDeleted !== "boolean") {
    return "bad flags";
  }
  if (m.ttlSeconds !== null && !isCount(m.ttlSeconds)) return "bad ttl";
  if (m.expiresAtMs !== null && !isCount(m.expiresAtMs)) return "bad expiry";
  if (
    m.fork !== null &&
    (typeof m.fork !== "object" || !isCount(m.fork.sourceId) ||
      !isCount(m.fork.position) || typeof m.fork.sourceName !== "string")
  ) return "bad fork";
  if (!Array.isArray(m.segments) || !isCount(m.uploadedThrough)) {
    return "bad segments";
  }
  let pos = m.fork?.position ?? 0;
  for (const s of m.segments) {
    if (
      typeof s.key !== "string" || s.startPos !== pos ||
      !isCount(s.endPos) || s.endPos <= s.startPos || !isCount(s.bytes)
    ) return `segments do not tile from ${pos}`;
    if (
      s.packOffset !== undefined &&
      (!isCount(s.packOffset) || !s.key.startsWith(PACKS_PREFIX))
    ) return `bad pack range at ${pos}`;
    pos = s.endPos;
  }
  if (pos !== m.uploadedThrough) return "uploadedThrough disagrees";
  const schema = m.schemaRegistry;
  if (
    schema !== undefined &&
    (typeof schema !== "object" || schema === null ||
      typeof schema.key !== "string" ||
      !schema.key.startsWith(streamPrefix(m.id)) ||
      typeof schema.sha256 !== "string" ||
      !/^[0-9a-f]{64}$/.test(schema.sha256))
  ) return "bad schemaRegistry";
  const companions = m.companions;
  if (
    companions !== undefined &&
    (typeof companions !== "object" || companions === null ||
      typeof companions.hash !== "string" ||
      !Array.isArray(companions.objects) ||
      !companions.objects.every((o) =>
        typeof o === "object" && o !== null && typeof o.key === "string" &&
        o.key.startsWith(streamPrefix(m.id)) && isCount(o.startPos) &&
        isCount(o.endPos) && o.endPos > o.startPos && isCount(o.bytes)
      ))
  ) return "bad companions";
  const profile = m.profile;
  if (
    profile !== undefined &&
    (typeof profile !== "object" || profile === null ||
      Array.isArray(profile) || typeof profile.kind !== "string")
  ) return "bad profile";
  return undefined;
}
