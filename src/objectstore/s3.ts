/**
 * @module
 * An `ObjectStore` on any S3-compatible service (AWS S3, R2, MinIO, fauxqs)
 * through `@aws-sdk/client-s3`. Keys live under a configurable prefix. 404s
 * become `undefined`; 5xx, throttling and network failures become
 * `unavailable`; bodies whose length disagrees with the reply are `corrupt`.
 */

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { StreamError } from "../errors.ts";
import {
  checkKey,
  checkPrefix,
  checkRange,
  type ListPage,
  type ObjectHead,
  type ObjectStore,
  pageKeysMax,
  unavailable,
} from "./object_store.ts";

/** Access keys; without them the SDK's default chain (AWS_* env vars). */
export interface S3Credentials {
  /** AWS_ACCESS_KEY_ID. */
  accessKeyId: string;
  /** AWS_SECRET_ACCESS_KEY. */
  secretAccessKey: string;
  /** AWS_SESSION_TOKEN, for temporary credentials. */
  sessionToken?: string;
}

/** Options of `S3ObjectStore`. */
export interface S3ObjectStoreOptions {
  /** Bucket name (it must exist). */
  bucket: string;
  /** Service URL, for anything but AWS S3 (for example MinIO, R2). */
  endpoint?: string;
  /** Region. @default {"us-east-1"} */
  region?: string;
  /** Prepended to every key, for example "streambed/". @default {""} */
  prefix?: string;
  /** Address buckets as a path, not a host name (MinIO, fauxqs). */
  forcePathStyle?: boolean;
  /** Explicit credentials; otherwise the SDK reads AWS_* env vars. */
  credentials?: S3Credentials;
  /** Attempts per request, including the first (SDK retries). @default {3} */
  attemptsMax?: number;
  /** Keys per `list` page (1..1000). @default {1000} */
  listPageKeysMax?: number;
}

interface SdkError {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(e: unknown): number | undefined {
  return (e as SdkError)?.$metadata?.httpStatusCode;
}

function isMissing(e: unknown): boolean {
  const name = (e as SdkError)?.name;
  if (name === "NoSuchBucket") return false;
  return name === "NoSuchKey" || name === "NotFound" || statusOf(e) === 404;
}

/** `unavailable` for transient failures, `internal` for refusals. */
function failure(op: string, key: string, e: unknown): StreamError {
  if (e instanceof StreamError) return e;
  const status = statusOf(e);
  if (status === undefined || status >= 500 || status === 429) {
    return unavailable(op, key, e);
  }
  const name = (e as SdkError)?.name ?? "error";
  return new StreamError(
    "internal",
    `Cannot ${op} object "${key}": S3 answered ${status} ${name}`,
    { key, status },
    { cause: e },
  );
}

function corruptReply(op: string, key: string, why: string): StreamError {
  return new StreamError(
    "corrupt",
    `Cannot ${op} object "${key}": ${why}`,
    { key },
  );
}

/** An `ObjectStore` in an S3 bucket; call `close()` when done. */
export class S3ObjectStore implements ObjectStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #pageKeysMax: number;

  /** Creates the client; no request is sent until the first call. */
  constructor(options: S3ObjectStoreOptions) {
    if (options.prefix) checkPrefix(options.prefix);
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? "";
    this.#pageKeysMax = pageKeysMax(options.listPageKeysMax);
    this.#client = new S3Client({
      endpoint: options.endpoint,
      region: options.region ?? "us-east-1",
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: options.credentials,
      maxAttempts: options.attemptsMax ?? 3,
    });
  }

  /** Releases the client's sockets. */
  close(): void {
    this.#client.destroy();
  }

  /** One PutObject (atomic in S3). */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    checkKey(key);
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: this.#prefix + key,
          Body: bytes,
          ContentLength: bytes.length,
        }),
      );
    } catch (e) {
      throw failure("put", key, e);
    }
  }

  /** One GetObject; the body must match its Content-Length. */
  async get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    try {
      const reply = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }),
      );
      const bytes = await reply.Body!.transformToByteArray();
      if (
        reply.ContentLength !== undefined &&
        reply.ContentLength !== bytes.length
      ) {
        throw corruptReply("get", key, "body shorter than Content-Length");
      }
      return bytes;
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw failure("get", key, e);
    }
  }

  /** A ranged GetObject; a range past the end (416) is empty. */
  async getRange(
    key: string,
    offset: number,
    length: number,
  ): Promise<Uint8Array | undefined> {
    checkKey(key);
    checkRange(offset, length);
    if (length === 0) {
      return (await this.head(key)) === undefined
        ? undefined
        : new Uint8Array();
    }
    try {
      const reply = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: this.#prefix + key,
          Range: `bytes=${offset}-${offset + length - 1}`,
        }),
      );
      const bytes = await reply.Body!.transformToByteArray();
      // A server that ignores Range sends the whole object.
      if (reply.ContentRange === undefined) {
        return bytes.slice(offset, offset + length);
      }
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(reply.ContentRange);
      if (
        m === null || Number(m[1]) !== offset ||
        Number(m[2]) - offset + 1 !== bytes.length || bytes.length > length
      ) {
        throw corruptReply("read", key, "reply does not match the range");
      }
      return bytes;
    } catch (e) {
      if (isMissing(e)) return undefined;
      if (statusOf(e) === 416) return new Uint8Array();
      throw failure("read", key, e);
    }
  }

  /** One HeadObject. */
  async head(key: string): Promise<ObjectHead | undefined> {
    checkKey(key);
    try {
      const reply = await this.#client.send(
        new HeadObjectCommand({
          Bucket: this.#bucket,
          Key: this.#prefix + key,
        }),
      );
      if (reply.ContentLength === undefined || reply.ETag === undefined) {
        throw corruptReply("head", key, "reply lacks size or etag");
      }
      return { size: reply.ContentLength, etag: reply.ETag };
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw failure("head", key, e);
    }
  }

  /**
   * One ListObjectsV2 page. The continuation token is the last key returned
   * (sent as StartAfter), so pages behave the same on every store.
   */
  async list(prefix: string, continuation?: string): Promise<ListPage> {
    checkPrefix(prefix);
    try {
      const reply = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: this.#prefix + prefix,
          StartAfter: continuation === undefined
            ? undefined
            : this.#prefix + continuation,
          MaxKeys: this.#pageKeysMax,
        }),
      );
      const keys = (reply.Contents ?? []).map((o) => {
        const k = o.Key ?? "";
        if (!k.startsWith(this.#prefix + prefix)) {
          throw corruptReply("list", prefix, `key "${k}" outside the prefix`);
        }
        return k.slice(this.#prefix.length);
      });
      return reply.IsTruncated && keys.length > 0
        ? { keys, next: keys[keys.length - 1] }
        : { keys };
    } catch (e) {
      throw failure("list", prefix, e);
    }
  }

  /** One DeleteObject (S3 accepts missing keys). */
  async delete(key: string): Promise<void> {
    checkKey(key);
    try {
      await this.#client.send(
        new DeleteObjectCommand({
          Bucket: this.#bucket,
          Key: this.#prefix + key,
        }),
      );
    } catch (e) {
      if (isMissing(e)) return;
      throw failure("delete", key, e);
    }
  }
}
