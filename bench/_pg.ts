/**
 * @module
 * What the PostgreSQL benchmarks share: a throwaway cluster with fsync on
 * (like SQLite's default durability), the flags that put a server on it,
 * and server processes on port 0 with a data dir each, stopped with SIGTERM
 * (queued appends commit first) and their data dir removed. Needs Debian's
 * `postgresql` package.
 */

import {
  type PgTestCluster,
  startPgCluster,
} from "../src/storage/_pg_testing.ts";
import { type ServerProcess, spawnServer } from "../test/_server.ts";

/** Runs `fn` on a fresh cluster with fsync on, then removes the cluster. */
export async function withPgCluster<T>(
  fn: (cluster: PgTestCluster) => Promise<T>,
): Promise<T> {
  const cluster = await startPgCluster({ fsync: true });
  try {
    return await fn(cluster);
  } finally {
    await cluster.destroy();
  }
}

/** Where a server keeps its WAL in `cluster`. */
export interface PgPlacement {
  /** `--postgres-schema` (the server's default when absent). */
  schema?: string;
  /** `--postgres-multi-node`: nodes share the schema. */
  multiNode?: boolean;
}

/** The flags that put a server's WAL in `cluster`. */
export function postgresArgs(
  cluster: PgTestCluster,
  placement: PgPlacement = {},
): string[] {
  const args = ["--storage", "postgres", "--postgres-url", cluster.url];
  if (placement.schema !== undefined) {
    args.push("--postgres-schema", placement.schema);
  }
  if (placement.multiNode) args.push("--postgres-multi-node");
  return args;
}

/** A server process of a benchmark and its data dir. */
export interface BenchNode extends ServerProcess {
  /** Its data dir, removed by `stopNode`. */
  dir: string;
}

/**
 * Starts `main` (this tree's `main.ts` unless another tree's is named)
 * with `args` on port 0 in a fresh data dir, at log level warn unless
 * `args` say otherwise.
 */
export async function startNode(
  args: string[],
  main?: string,
): Promise<BenchNode> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-bench-" });
  try {
    return { ...await spawnServer(dir, args, {}, main), dir };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

/** Stops `node` with SIGTERM, waits for it and removes its data dir. */
export async function stopNode(node: BenchNode): Promise<void> {
  try {
    node.child.kill("SIGTERM");
  } catch { /* already gone */ }
  await node.child.status;
  await Deno.remove(node.dir, { recursive: true });
}
