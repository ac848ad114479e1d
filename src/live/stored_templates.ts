/**
 * @module
 * A stream's touch templates kept in step with the template store
 * (touch-live.md §7): the in-memory registry is loaded from the store when
 * the runtime starts, activations and retirements are written at once,
 * heartbeats in memory and their last-seen times at most every
 * `lastSeenPersistIntervalMs`, a GC pass every `gcIntervalMs` retires idle
 * templates, and retired ones beyond `maxActiveTemplatesPerStream` are
 * forgotten, oldest retirement first, so neither memory nor the table grows
 * without bound.
 */

import type { Logger } from "../log.ts";
import type { JsonObject } from "../profiles/profile.ts";
import type {
  LiveTemplateRow,
  LiveTemplateStore,
} from "../storage/live_template_store.ts";
import type { FieldEncoding, KeyHasher } from "../touch/keys.ts";
import type { ActiveTemplate } from "../touch/processor.ts";
import {
  type ActivateRequest,
  type ActivateResult,
  type TemplateEntry,
  type TemplateLimits,
  TemplateRegistry,
} from "../touch/templates.ts";

/** What the templates of one stream need. */
export interface StoredTemplatesDeps {
  /** The key hasher. */
  hasher: KeyHasher;
  /** The validated `profile.touch` object. */
  touch: JsonObject;
  /** Internal id of the stream. */
  streamId: number;
  /** Its name (for log lines). */
  name: string;
  /** Where templates are kept. */
  store: LiveTemplateStore;
  /** Logger. */
  log: Logger;
  /** Epoch ms. */
  clock: () => number;
}

/** The templates of one stream, in memory and in the store. */
export class StoredTemplates {
  /** The template caps and defaults of the profile. */
  readonly limits: TemplateLimits;
  /** Activations (new or renewed) so far. */
  activatedTotal = 0;
  /** Retirements (inactivity, caps) so far. */
  retiredTotal = 0;
  readonly #d: StoredTemplatesDeps;
  readonly #registry: TemplateRegistry;
  readonly #persistEveryMs: number;
  readonly #gcEveryMs: number;
  readonly #maintenance: ReturnType<typeof setInterval>;
  #lastPersistMs: number;
  #lastGcMs: number;
  readonly #persistedSeen = new Map<string, number>();
  readonly #createdAt = new Map<string, number>();
  readonly #retiredAt = new Map<string, number>();

  /** Loads the stream's rows and starts the persist and GC timer. */
  constructor(deps: StoredTemplatesDeps) {
    this.#d = deps;
    const t = deps.touch.templates as Record<string, number>;
    this.limits = {
      defaultInactivityTtlMs: t.defaultInactivityTtlMs,
      maxActiveTemplatesPerEntity: t.maxActiveTemplatesPerEntity,
      maxActiveTemplatesPerStream: t.maxActiveTemplatesPerStream,
      activationRateLimitPerMinute: t.activationRateLimitPerMinute,
    };
    this.#persistEveryMs = t.lastSeenPersistIntervalMs;
    this.#gcEveryMs = t.gcIntervalMs;
    this.#registry = new TemplateRegistry(deps.hasher, this.limits, deps.clock);
    const now = deps.clock();
    this.#lastPersistMs = now;
    this.#lastGcMs = now;
    this.#restore();
    this.#maintenance = setInterval(
      () => this.#maintain(),
      Math.min(this.#persistEveryMs, this.#gcEveryMs),
    );
    Deno.unrefTimer(this.#maintenance);
  }

  /** The entity of a registered template. */
  entityOf(id: string): string | undefined {
    return this.#registry.entityOf(id);
  }

  /** Active templates by entity, for the processor. */
  activeByEntity(): Map<string, ActiveTemplate[]> {
    return this.#registry.activeByEntity();
  }

  /** Active templates in all. */
  get activeCount(): number {
    return this.#registry.activeCount;
  }

  /** Registered templates, active and retired. */
  get size(): number {
    let n = 0;
    for (const _ of this.#registry.entries()) n++;
    return n;
  }

  /** Heartbeats templates a wait used (in memory; written later). */
  heartbeat(ids: Iterable<string>): void {
    this.#registry.heartbeat(ids);
  }

  /**
   * Activates templates from position `fromPos` on and writes the rows
   * that changed (activated, and others retired by the caps).
   */
  activate(
    req: ActivateRequest,
    fromPos: number,
    cursor: string,
  ): ActivateResult {
    const result = this.#registry.activate(req, fromPos, cursor);
    const now = this.#d.clock();
    const changed = new Set<string>();
    for (const a of result.activated) {
      if (!this.#createdAt.has(a.templateId)) {
        this.#createdAt.set(a.templateId, now);
      }
      this.#retiredAt.delete(a.templateId);
      changed.add(a.templateId);
    }
    this.activatedTotal += result.activated.length;
    for (const r of result.retired) this.#retired(r.templateId, now, r.reason);
    for (const r of result.retired) changed.add(r.templateId);
    this.#persist(changed);
    this.#prune();
    return result;
  }

  /** Writes the last-seen time of templates seen since the last write. */
  persistLastSeen(): void {
    const seen: string[] = [];
    for (const e of this.#registry.entries()) {
      if (e.lastSeenMs > (this.#persistedSeen.get(e.id) ?? -1)) seen.push(e.id);
    }
    this.#persist(seen);
  }

  /** Retires templates idle past their TTL; returns their ids. */
  gc(): string[] {
    const retired = this.#registry.gc();
    const now = this.#d.clock();
    for (const id of retired) this.#retired(id, now, "inactivity");
    this.#persist(retired);
    this.#prune();
    return retired;
  }

  /** Writes last-seen times and stops the timer. */
  close(): void {
    clearInterval(this.#maintenance);
    this.persistLastSeen();
  }

  #retired(id: string, now: number, reason: string): void {
    this.#retiredAt.set(id, now);
    this.retiredTotal++;
    this.#d.log.info(
      `touch template ${id} of "${this.#d.name}" retired: ${reason}`,
    );
  }

  #maintain(): void {
    const now = this.#d.clock();
    if (now - this.#lastPersistMs >= this.#persistEveryMs) {
      this.persistLastSeen();
      this.#lastPersistMs = now;
    }
    if (now - this.#lastGcMs >= this.#gcEveryMs) {
      this.gc();
      this.#lastGcMs = now;
    }
  }

  /** Forgets the oldest retired templates past the stream's cap. */
  #prune(): void {
    const retired = [...this.#registry.entries()]
      .filter((e) => e.state === "retired")
      .sort((a, b) =>
        (this.#retiredAt.get(a.id) ?? 0) - (this.#retiredAt.get(b.id) ?? 0)
      );
    const excess = retired.length - this.limits.maxActiveTemplatesPerStream;
    if (excess <= 0) return;
    const ids = retired.slice(0, excess).map((e) => e.id);
    for (const id of ids) {
      this.#registry.forget(id);
      this.#persistedSeen.delete(id);
      this.#createdAt.delete(id);
      this.#retiredAt.delete(id);
    }
    this.#store(() => this.#d.store.deleteTemplates(this.#d.streamId, ids));
  }

  #restore(): void {
    for (const row of this.#d.store.load(this.#d.streamId)) {
      const entry: TemplateEntry = {
        id: row.templateId,
        entity: row.entity,
        fields: row.fields.map((name, i) => ({
          name,
          encoding: row.encodings[i] as FieldEncoding,
        })),
        // Processing starts at the tail, past every stored activation point.
        activeFromSeq: row.activeFromPos,
        state: row.state,
        lastSeenMs: row.lastSeenAtMs,
        inactivityTtlMs: row.inactivityTtlMs,
        retiredReason: row.retiredReason === "inactivity"
          ? "inactivity"
          : row.retiredReason === "cap_exceeded"
          ? "cap_exceeded"
          : null,
      };
      if (!this.#registry.restore(entry)) {
        this.#d.log.warn(
          `touch template row ${row.templateId} of "${this.#d.name}" does not match its fields; ignored`,
        );
        continue;
      }
      this.#createdAt.set(row.templateId, row.createdAtMs);
      if (row.retiredAtMs !== null) {
        this.#retiredAt.set(row.templateId, row.retiredAtMs);
      }
      this.#persistedSeen.set(row.templateId, row.lastSeenAtMs);
    }
  }

  #persist(ids: Iterable<string>): void {
    const rows: LiveTemplateRow[] = [];
    for (const id of ids) {
      const e = this.#registry.get(id);
      if (e === undefined) continue;
      rows.push(this.#row(e));
      this.#persistedSeen.set(e.id, e.lastSeenMs);
    }
    if (rows.length > 0) this.#store(() => this.#d.store.put(rows));
  }

  #row(e: TemplateEntry): LiveTemplateRow {
    const retired = e.state === "retired";
    return {
      streamId: this.#d.streamId,
      templateId: e.id,
      entity: e.entity,
      fields: e.fields.map((f) => f.name),
      encodings: e.fields.map((f) => f.encoding),
      state: e.state,
      createdAtMs: this.#createdAt.get(e.id) ?? e.lastSeenMs,
      lastSeenAtMs: e.lastSeenMs,
      inactivityTtlMs: e.inactivityTtlMs,
      activeFromPos: e.activeFromSeq,
      retiredAtMs: retired ? this.#retiredAt.get(e.id) ?? e.lastSeenMs : null,
      retiredReason: retired ? e.retiredReason : null,
    };
  }

  /** Runs a store write; a failure is logged (memory stays authoritative). */
  #store(write: () => void): void {
    try {
      write();
    } catch (error) {
      this.#d.log.error(
        `storing touch templates of "${this.#d.name}" failed`,
        error,
      );
    }
  }
}
