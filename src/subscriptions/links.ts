/**
 * @module
 * Links that follow streams (PROTOCOL.md §6.2-6.4): a pattern links the
 * streams it matches when the subscription is created (at their tails) and
 * when they are created later (at 0, before their first data); a deleted
 * stream drops its glob links and resets its explicit ones. After a restart,
 * links are reconciled with the streams that exist.
 */

import type { StreamView } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import type { SubscriptionOp } from "../storage/subscription_store.ts";
import { globMatch, type GlobPattern } from "../glob.ts";
import {
  type Link,
  mayLink,
  type Sub,
  type SubscriptionRegistry,
} from "./registry.ts";

/** Keeps glob and explicit links in step with the streams. */
export class StreamLinks {
  #registry: SubscriptionRegistry;
  #linksMax: number;
  #log: Logger;

  /** Links for `registry`; a subscription links at most `linksMax` streams. */
  constructor(registry: SubscriptionRegistry, linksMax: number, log: Logger) {
    this.#registry = registry;
    this.#linksMax = linksMax;
    this.#log = log;
  }

  /**
   * §6.2: links the existing streams `sub`'s pattern matches at their
   * current tails, on `sub` before it is committed (nothing is stored).
   */
  backfill(sub: Sub): void {
    let truncated = false;
    this.#registry.scanMatching(sub.glob!, (view) => {
      const link = sub.links.get(view.name);
      if (link !== undefined) {
        link.glob = true;
        return;
      }
      if (!mayLink(sub, view.name)) return;
      if (sub.links.size >= this.#linksMax) {
        truncated = true;
        return;
      }
      sub.links.set(view.name, {
        path: view.name,
        explicit: false,
        glob: true,
        ackedPos: view.tailPos,
      });
    });
    if (truncated) {
      this.#log.warn(
        `subscription "${sub.row.id}": pattern matches more than ${this.#linksMax} streams; the rest are not linked`,
      );
    }
  }

  /**
   * After a restart: links to streams that shrank (deleted and recreated)
   * restart at 0, and matching streams a crash kept from being linked are
   * linked at 0 (delivered again rather than skipped). The patterns of all
   * of `subs` are matched in one walk over the streams (subscriptions with
   * the same pattern share its test), not one walk per subscription.
   */
  reconcile(subs: Iterable<Sub>): void {
    const registry = this.#registry;
    const next = new Map<Sub, Link[]>();
    const byPattern = new Map<string, { glob: GlobPattern; subs: Sub[] }>();
    for (const sub of subs) {
      const links: Link[] = [];
      next.set(sub, links);
      for (const link of sub.links.values()) {
        if (link.ackedPos > registry.tail(link.path)) {
          links.push({ ...link, ackedPos: 0 });
        }
      }
      if (sub.glob === undefined) continue;
      const group = byPattern.get(sub.glob.source);
      if (group === undefined) {
        byPattern.set(sub.glob.source, { glob: sub.glob, subs: [sub] });
      } else group.subs.push(sub);
    }
    const globs = [...byPattern.values()].map((g) => g.glob);
    registry.scanMatchingAll(globs, (view, glob) => {
      for (const sub of byPattern.get(glob.source)!.subs) {
        if (sub.links.has(view.name) || !mayLink(sub, view.name)) continue;
        next.get(sub)!.push({
          path: view.name,
          explicit: false,
          glob: true,
          ackedPos: 0,
        });
      }
    });
    for (const [sub, links] of next) {
      if (links.length === 0) continue;
      registry.commit(links.map((link) => registry.linkOp(sub, link)));
      for (const link of links) registry.setLink(sub, link);
    }
  }

  /**
   * Stream `view` was created: §6.2, matching subscriptions link it at 0
   * before the append that created it wakes anyone; an explicit link that
   * outlived an older stream of the same name restarts at 0. A new link is
   * stored only where none is: with several nodes, one that learns of the
   * stream late (by a reload) may hold a copy of the subscription from
   * before another node linked the stream and acked it, and must not put
   * the cursor back to 0 (the data would be delivered again). Returns the
   * ids of the subscriptions given a new link, whose copies the caller
   * reloads when the store is shared.
   */
  created(view: StreamView): string[] {
    const registry = this.#registry;
    const name = view.name;
    const changes: [Sub, Link][] = [];
    for (const sub of registry.values()) {
      const link = sub.links.get(name);
      if (link !== undefined) {
        if (link.ackedPos > view.tailPos) {
          changes.push([sub, { ...link, ackedPos: 0 }]);
        }
        continue;
      }
      if (sub.glob === undefined || !globMatch(sub.glob, name)) continue;
      if (!mayLink(sub, name)) continue;
      if (sub.links.size >= this.#linksMax) {
        this.#log.warn(
          `subscription "${sub.row.id}" is full; "${name}" not linked`,
        );
        continue;
      }
      changes.push([sub, {
        path: name,
        explicit: false,
        glob: true,
        ackedPos: 0,
      }]);
    }
    // One transaction for every subscription the new stream touches.
    const linked = changes.filter(([sub]) => !sub.links.has(name))
      .map(([sub]) => sub.row.id);
    registry.commit(changes.map(([sub, link]): SubscriptionOp => ({
      op: "put_link",
      row: { subscriptionId: sub.row.id, ...link },
      ifAbsent: !sub.links.has(name),
    })));
    for (const [sub, link] of changes) registry.setLink(sub, link);
    return linked;
  }

  /** Stream `name` was deleted: glob links go; explicit ones stay, reset to 0. */
  deleted(name: string): void {
    const registry = this.#registry;
    const ops: SubscriptionOp[] = [];
    const apply: (() => void)[] = [];
    for (const id of registry.subscribersOf(name)) {
      const sub = registry.get(id);
      const link = sub?.links.get(name);
      if (sub === undefined || link === undefined) continue;
      if (link.explicit) {
        const next = { ...link, glob: false, ackedPos: 0 };
        ops.push(registry.linkOp(sub, next));
        apply.push(() => registry.setLink(sub, next));
      } else {
        ops.push({ op: "delete_link", subscriptionId: id, path: name });
        apply.push(() => registry.dropLink(sub, name));
      }
    }
    registry.commit(ops);
    for (const fn of apply) fn();
  }
}
