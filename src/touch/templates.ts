/**
 * @module
 * Templates of one stream (touch-live.md §6.3, §7), in memory: activation
 * with per-item validation (invalid items are denied, not refused), the
 * hash-collision guard, a per-stream activation token bucket, caps per
 * entity and per stream (least recently seen others retired), heartbeats
 * and inactivity GC. Persistence is the caller's; time is injected.
 */

import { fail, ok, type Result } from "../errors.ts";
import {
  ENCODINGS,
  type FieldEncoding,
  type KeyHasher,
  type TemplateField,
} from "./keys.ts";
import type { ActiveTemplate } from "./processor.ts";

/** Most templates in one activate call. */
export const ACTIVATE_MAX_TEMPLATES = 256;
/** Fields per template. */
export const TEMPLATE_MAX_FIELDS = 3;

/** The template part of `profile.touch.templates`. */
export interface TemplateLimits {
  defaultInactivityTtlMs: number;
  maxActiveTemplatesPerEntity: number;
  maxActiveTemplatesPerStream: number;
  activationRateLimitPerMinute: number;
}

/** One registered template. */
export interface TemplateEntry extends ActiveTemplate {
  state: "active" | "retired";
  lastSeenMs: number;
  inactivityTtlMs: number;
  retiredReason: "inactivity" | "cap_exceeded" | null;
}

/** A checked activate body. */
export interface ActivateRequest {
  templates: unknown[];
  inactivityTtlMs: number;
}

/** Checks an activate body: 400 for the body, items are checked later. */
export function parseActivateBody(
  body: unknown,
  defaultTtlMs: number,
): Result<ActivateRequest> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return fail("bad_request", "the activate body must be a JSON object");
  }
  const b = body as Record<string, unknown>;
  if (
    !Array.isArray(b.templates) ||
    b.templates.length > ACTIVATE_MAX_TEMPLATES
  ) {
    return fail(
      "bad_request",
      `"templates" must be an array of at most ${ACTIVATE_MAX_TEMPLATES} items`,
      { field: "templates" },
    );
  }
  const ttl = b.inactivityTtlMs ?? defaultTtlMs;
  if (!Number.isSafeInteger(ttl) || (ttl as number) <= 0) {
    return fail("bad_request", '"inactivityTtlMs" must be a positive integer', {
      field: "inactivityTtlMs",
    });
  }
  return ok({ templates: b.templates, inactivityTtlMs: ttl as number });
}

/** One template item checked: entity trimmed, 1..3 unique known fields. */
export function checkTemplateItem(
  item: unknown,
): { entity: string; fields: TemplateField[] } | string {
  if (item === null || typeof item !== "object" || Array.isArray(item)) {
    return "a template must be an object";
  }
  const t = item as Record<string, unknown>;
  const entity = typeof t.entity === "string" ? t.entity.trim() : "";
  if (entity === "") return '"entity" must be a non-empty string';
  if (
    !Array.isArray(t.fields) || t.fields.length < 1 ||
    t.fields.length > TEMPLATE_MAX_FIELDS
  ) {
    return `"fields" must hold 1..${TEMPLATE_MAX_FIELDS} fields`;
  }
  const fields: TemplateField[] = [];
  for (const f of t.fields) {
    const name = (f as Record<string, unknown> | null)?.name;
    const encoding = (f as Record<string, unknown> | null)?.encoding;
    if (typeof name !== "string" || name === "") {
      return "each field needs a non-empty name";
    }
    if (!ENCODINGS.includes(encoding as FieldEncoding)) {
      return `field ${name}: encoding must be one of ${ENCODINGS.join(", ")}`;
    }
    if (fields.some((x) => x.name === name)) return `field ${name} repeats`;
    fields.push({ name, encoding: encoding as FieldEncoding });
  }
  return { entity, fields };
}

/** The outcome of one activate call. */
export interface ActivateResult {
  activated: {
    templateId: string;
    state: "active";
    activeFromTouchOffset: string;
  }[];
  denied: (
    | { index: number; reason: "invalid"; message: string }
    | { templateId: string; reason: "rate_limited" }
  )[];
  retired: { templateId: string; reason: "cap_exceeded" }[];
}

function signature(entity: string, fields: TemplateField[]): string {
  return JSON.stringify([entity, fields.map((f) => [f.name, f.encoding])]);
}

/** The templates of one stream. */
export class TemplateRegistry {
  readonly #hasher: KeyHasher;
  readonly #limits: TemplateLimits;
  readonly #clock: () => number;
  readonly #entries = new Map<string, TemplateEntry>();
  #tokens: number;
  #tokensAtMs: number;

  constructor(hasher: KeyHasher, limits: TemplateLimits, clock: () => number) {
    this.#hasher = hasher;
    this.#limits = limits;
    this.#clock = clock;
    this.#tokens = limits.activationRateLimitPerMinute;
    this.#tokensAtMs = clock();
  }

  /**
   * Activates the items of a checked body. New and retired templates start
   * at record `fromSeq` (reported as `cursor`) and take a rate token;
   * active ones only refresh their heartbeat and TTL.
   */
  activate(
    req: ActivateRequest,
    fromSeq: number,
    cursor: string,
  ): ActivateResult {
    const now = this.#clock();
    const result: ActivateResult = { activated: [], denied: [], retired: [] };
    req.templates.forEach((item, index) => {
      const checked = checkTemplateItem(item);
      if (typeof checked === "string") {
        result.denied.push({ index, reason: "invalid", message: checked });
        return;
      }
      const t = this.#hasher.template(checked.entity, checked.fields);
      const known = this.#entries.get(t.id);
      if (
        known !== undefined &&
        signature(known.entity, known.fields) !== signature(t.entity, t.fields)
      ) {
        result.denied.push({
          index,
          reason: "invalid",
          message: `template id ${t.id} is registered with another signature`,
        });
        return;
      }
      if (known?.state === "active") {
        known.lastSeenMs = now;
        known.inactivityTtlMs = req.inactivityTtlMs;
        result.activated.push({
          templateId: t.id,
          state: "active",
          activeFromTouchOffset: cursor,
        });
        return;
      }
      if (!this.#takeToken(now)) {
        result.denied.push({ templateId: t.id, reason: "rate_limited" });
        return;
      }
      this.#entries.set(t.id, {
        ...t,
        activeFromSeq: fromSeq,
        state: "active",
        lastSeenMs: now,
        inactivityTtlMs: req.inactivityTtlMs,
        retiredReason: null,
      });
      result.activated.push({
        templateId: t.id,
        state: "active",
        activeFromTouchOffset: cursor,
      });
      for (const id of this.#enforceCaps(t.id, t.entity)) {
        result.retired.push({ templateId: id, reason: "cap_exceeded" });
      }
    });
    return result;
  }

  /** Heartbeats active templates a wait used. */
  heartbeat(ids: Iterable<string>): void {
    const now = this.#clock();
    for (const id of ids) {
      const e = this.#entries.get(id);
      if (e?.state === "active") e.lastSeenMs = now;
    }
  }

  /** Retires templates idle longer than their TTL; returns their ids. */
  gc(): string[] {
    const now = this.#clock();
    const out: string[] = [];
    for (const e of this.#entries.values()) {
      if (e.state === "active" && now - e.lastSeenMs > e.inactivityTtlMs) {
        e.state = "retired";
        e.retiredReason = "inactivity";
        out.push(e.id);
      }
    }
    return out;
  }

  /**
   * Puts back a template loaded from storage (a restart): its id is
   * recomputed from the entity and fields, so a row that does not hash to
   * its id is refused (false).
   */
  restore(entry: TemplateEntry): boolean {
    const t = this.#hasher.template(entry.entity, entry.fields);
    if (t.id !== entry.id) return false;
    this.#entries.set(t.id, { ...entry, fields: t.fields });
    return true;
  }

  /** Forgets a template (a retired one past the keep limit). */
  forget(id: string): void {
    this.#entries.delete(id);
  }

  /** Every registered template, active and retired. */
  entries(): IterableIterator<TemplateEntry> {
    return this.#entries.values();
  }

  /** A template by id. */
  get(id: string): TemplateEntry | undefined {
    return this.#entries.get(id);
  }

  /** The entity of a registered template. */
  entityOf(id: string): string | undefined {
    return this.#entries.get(id)?.entity;
  }

  /** Active templates by entity, for the processor. */
  activeByEntity(): Map<string, ActiveTemplate[]> {
    const out = new Map<string, ActiveTemplate[]>();
    for (const e of this.#entries.values()) {
      if (e.state !== "active") continue;
      const list = out.get(e.entity) ?? [];
      list.push(e);
      out.set(e.entity, list);
    }
    return out;
  }

  /** Active templates in all. */
  get activeCount(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.state === "active") n++;
    return n;
  }

  #takeToken(now: number): boolean {
    const rate = this.#limits.activationRateLimitPerMinute;
    if (rate === 0) return true;
    this.#tokens = Math.min(
      rate,
      this.#tokens + (now - this.#tokensAtMs) * rate / 60_000,
    );
    this.#tokensAtMs = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  #enforceCaps(keep: string, entity: string): string[] {
    const retired: string[] = [];
    const trim = (inScope: (e: TemplateEntry) => boolean, cap: number) => {
      const active = [...this.#entries.values()].filter((e) =>
        e.state === "active" && inScope(e)
      );
      const others = active.filter((e) => e.id !== keep)
        .sort((a, b) => a.lastSeenMs - b.lastSeenMs);
      for (let i = 0; i < active.length - cap && i < others.length; i++) {
        others[i].state = "retired";
        others[i].retiredReason = "cap_exceeded";
        retired.push(others[i].id);
      }
    };
    trim((e) => e.entity === entity, this.#limits.maxActiveTemplatesPerEntity);
    trim(() => true, this.#limits.maxActiveTemplatesPerStream);
    return retired;
  }
}
