/**
 * @module
 * The keys in force: the keys file's plus the `API_KEY` key, looked up by
 * the SHA-256 of a presented secret. The file is read again on `reload()`
 * (SIGHUP) and when its size, mtime or inode change (checked every second),
 * so keys rotate without a restart; a file that does not parse leaves the
 * keys as they were, with one log line per change.
 */

import { timingSafeEqual } from "node:crypto";
import { StartupError } from "../errors.ts";
import { KEYS_FILE_BYTES_MAX, KEYS_FILE_POLL_MS } from "../limits.ts";
import type { Logger } from "../log.ts";
import { type ApiKey, envKey, parseKeysFile, sha256, toHex } from "./keys.ts";

/** Secrets are printable ASCII without spaces, 10 (`API_KEY`) to 256 bytes. */
const SECRET_PATTERN = /^[\x21-\x7e]{10,256}$/;

/** Where the keys come from. */
export interface KeySource {
  /** The keys file; "" for none. */
  file: string;
  /** The `API_KEY` secret; "" for none. */
  apiKey: string;
}

/** The keys in force, and their reloading. */
export class KeyStore {
  #source: KeySource;
  #log: Logger;
  #byDigest = new Map<string, ApiKey>();
  #fileKeys: ApiKey[] = [];
  #signature = "";
  #timer: ReturnType<typeof setInterval> | undefined;
  #reloading: Promise<boolean> | undefined;
  #listeners: ((ids: ReadonlySet<string>) => void)[] = [];

  private constructor(source: KeySource, log: Logger) {
    this.#source = source;
    this.#log = log;
  }

  /**
   * Loads the keys; an unreadable or invalid keys file is a one-line
   * `StartupError`. Call `watch()` to follow the file.
   */
  static async open(source: KeySource, log: Logger): Promise<KeyStore> {
    const store = new KeyStore(source, log);
    if (source.file !== "") {
      const loaded = await store.#read();
      if (!loaded.ok) {
        throw new StartupError(
          "auth_config",
          `--api-keys-file ${source.file}: ${loaded.error}`,
        );
      }
      store.#fileKeys = loaded.keys;
      store.#signature = loaded.signature;
    }
    store.#index();
    return store;
  }

  /** Keys in force. */
  get size(): number {
    return this.#byDigest.size;
  }

  /** Ids of the keys in force. */
  ids(): Set<string> {
    return new Set([...this.#byDigest.values()].map((k) => k.id));
  }

  /** Called with the ids in force after each successful reload. */
  onReload(listener: (ids: ReadonlySet<string>) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * The key whose secret is `secret`, if any. The lookup goes by the
   * SHA-256 of what was presented, so its timing says nothing about any
   * stored secret; the final comparison is constant-time anyway.
   */
  authenticate(secret: string): ApiKey | undefined {
    if (!SECRET_PATTERN.test(secret)) return undefined;
    const digest = sha256(secret);
    const key = this.#byDigest.get(toHex(digest));
    return key !== undefined && timingSafeEqual(key.digest, digest)
      ? key
      : undefined;
  }

  /**
   * Reads the keys file again: true when the new keys are in force, false
   * (and one error line) when it is unreadable or invalid, keeping the old.
   */
  reload(): Promise<boolean> {
    if (this.#source.file === "") return Promise.resolve(true);
    this.#reloading ??= this.#reload().finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  /** Checks the file for changes every `intervalMs` until `close()`. */
  watch(intervalMs: number = KEYS_FILE_POLL_MS): void {
    if (this.#source.file === "" || this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.#poll(), intervalMs);
  }

  /** Stops watching. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #poll(): Promise<void> {
    if (this.#reloading !== undefined) return;
    const signature = await this.#stat();
    if (signature !== this.#signature) await this.reload();
  }

  async #reload(): Promise<boolean> {
    const file = this.#source.file;
    const loaded = await this.#read();
    // Remember the failed version too: one log line per change, not per poll.
    this.#signature = loaded.signature;
    if (!loaded.ok) {
      this.#log.error(
        `keys file ${file} not reloaded, keeping the ${this.size} keys in force: ${loaded.error}`,
      );
      return false;
    }
    this.#fileKeys = loaded.keys;
    this.#index();
    this.#log.info(`keys file ${file} reloaded: ${this.size} keys in force`);
    const ids = this.ids();
    for (const listener of this.#listeners) listener(ids);
    return true;
  }

  #index(): void {
    const byDigest = new Map<string, ApiKey>();
    for (const key of this.#fileKeys) byDigest.set(toHex(key.digest), key);
    if (this.#source.apiKey !== "") {
      const key = envKey(this.#source.apiKey);
      byDigest.set(toHex(key.digest), key);
    }
    this.#byDigest = byDigest;
  }

  async #stat(): Promise<string> {
    try {
      const info = await Deno.stat(this.#source.file);
      return `${info.size}:${info.mtime?.getTime()}:${info.ino}`;
    } catch {
      return "missing";
    }
  }

  async #read(): Promise<
    | { ok: true; keys: ApiKey[]; signature: string }
    | { ok: false; error: string; signature: string }
  > {
    const signature = await this.#stat();
    let text: string;
    try {
      using file = await Deno.open(this.#source.file);
      const bytes = new Uint8Array(KEYS_FILE_BYTES_MAX + 1);
      let length = 0;
      while (length < bytes.length) {
        const n = await file.read(bytes.subarray(length));
        if (n === null) break;
        length += n;
      }
      if (length > KEYS_FILE_BYTES_MAX) {
        return {
          ok: false,
          error: `larger than ${KEYS_FILE_BYTES_MAX} bytes`,
          signature,
        };
      }
      text = new TextDecoder().decode(bytes.subarray(0, length));
    } catch (error) {
      return { ok: false, error: (error as Error).message, signature };
    }
    const parsed = parseKeysFile(text);
    return parsed.ok
      ? { ok: true, keys: parsed.value, signature }
      : { ok: false, error: parsed.error, signature };
  }
}
