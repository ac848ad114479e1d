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
import { S3ObjectStore } from "./s3.ts";

/** An opened store and how to release it. */
export interface OpenedObjectStore {
  /** The store. */
  store: ObjectStore;
  /** Releases sockets or handles. */
  close(): void;
}

/** The configured store, or undefined for `none`. */
export function openObjectStore(
  config: ObjectStoreConfig,
  dataDir: string,
): OpenedObjectStore | undefined {
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
