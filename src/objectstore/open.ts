/**
 * @module
 * Opens the object store `--object-store` names: a folder (`fs`), an S3
 * bucket (`s3`; credentials from the usual AWS_* variables, path-style
 * addressing when an endpoint is given), or none.
 */

import { join } from "node:path";
import type { ObjectStoreConfig } from "../config.ts";
import { FsObjectStore } from "./fs.ts";
import type { ObjectStore } from "./object_store.ts";

/** An opened store and how to release it. */
export interface OpenedObjectStore {
  /** The store. */
  store: ObjectStore;
  /** Releases sockets or handles. */
  close(): void;
}

/**
 * The configured store, or undefined for `none`. The S3 module (and with it
 * the AWS SDK) is imported only when `s3` is chosen; the literal specifier
 * keeps it in the module graph for `deno compile`.
 */
export async function openObjectStore(
  config: ObjectStoreConfig,
  dataDir: string,
): Promise<OpenedObjectStore | undefined> {
  switch (config.kind) {
    case "none":
      return undefined;
    case "fs":
      return {
        store: new FsObjectStore({
          root: config.dir === "" ? join(dataDir, "objects") : config.dir,
        }),
        close: () => {},
      };
    case "s3": {
      const { S3ObjectStore } = await import("./s3.ts");
      const store = new S3ObjectStore({
        bucket: config.s3Bucket,
        endpoint: config.s3Endpoint === "" ? undefined : config.s3Endpoint,
        region: config.s3Region,
        prefix: config.s3Prefix,
        forcePathStyle: config.s3Endpoint !== "",
      });
      return { store, close: () => store.close() };
    }
  }
}
