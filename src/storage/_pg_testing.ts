/**
 * @module
 * A throwaway PostgreSQL cluster for tests: `initdb` into a temp dir, a
 * server on 127.0.0.1 and a free port (password auth over TCP, so tests can
 * try a wrong password), stopped and removed at the end. It uses the
 * binaries of Debian's `postgresql` package; when they are missing, starting
 * throws (the tests fail, they do not skip). As root the cluster runs as
 * `nobody`, since PostgreSQL refuses to run as root.
 */

/** The role and password every test cluster has. */
export const PG_TEST_USER = "streambed";
/** The password of `PG_TEST_USER` (test clusters only). */
export const PG_TEST_PASSWORD = "s3cret-test-pw";

/** A running test cluster. */
export interface PgTestCluster {
  /** `postgres://user:password@127.0.0.1:port/postgres`. */
  url: string;
  /** The TCP port. */
  port: number;
  /** A URL with another password, for failure tests. */
  urlWithPassword(password: string): string;
  /** Stops the server (fast shutdown: connections are cut). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Runs SQL through `psql` as the test user; returns its output. */
  psql(sql: string): Promise<string>;
  /** Stops the server for good and removes its files. */
  destroy(): Promise<void>;
  /** `destroy` for `unload` handlers, which cannot wait. */
  destroySync(): void;
}

/** Options of `startPgCluster`. */
export interface PgClusterOptions {
  /**
   * Flush commits to disk (`fsync=on`). Off by default: tests kill Streambed,
   * not PostgreSQL, so PostgreSQL's own crash safety is not under test.
   */
  fsync?: boolean;
}

/**
 * The server binaries: `$PG_BIN` when set (only there), else where Debian
 * puts them (newest version first).
 */
export function findPgBin(): string {
  const fromEnv = Deno.env.get("PG_BIN");
  const candidates = fromEnv !== undefined ? [fromEnv] : [];
  if (fromEnv === undefined) {
    try {
      const versions = [...Deno.readDirSync("/usr/lib/postgresql")]
        .map((e) => e.name).filter((n) => /^\d+$/.test(n))
        .sort((a, b) => Number(b) - Number(a));
      for (const v of versions) {
        candidates.push(`/usr/lib/postgresql/${v}/bin`);
      }
    } catch { /* no Debian layout */ }
  }
  for (const dir of candidates) {
    try {
      Deno.statSync(`${dir}/initdb`);
      Deno.statSync(`${dir}/pg_ctl`);
      return dir;
    } catch { /* next */ }
  }
  throw new Error(
    "PostgreSQL server binaries not found (looked in $PG_BIN, else /usr/lib/postgresql/*/bin): " +
      "install them with `apt-get install -y postgresql`; the PostgreSQL tests need a real server",
  );
}

const isRoot = Deno.uid() === 0;

/** Runs `cmd` (as `nobody` when we are root); throws with its output on failure. */
async function run(cmd: string[], env: Record<string, string> = {}) {
  const argv = isRoot
    ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", ...cmd]
    : cmd;
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd.join(" ")} failed:\n${text}`);
  return text;
}

function runSync(cmd: string[]): void {
  const argv = isRoot
    ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", ...cmd]
    : cmd;
  new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "null",
    stderr: "null",
  })
    .outputSync();
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Creates and starts a cluster. */
export async function startPgCluster(
  options: PgClusterOptions = {},
): Promise<PgTestCluster> {
  const bin = findPgBin();
  // As root the cluster runs as nobody, who must reach its directory: under
  // /tmp, not a $TMPDIR that may sit in root's home.
  const root = await Deno.makeTempDir({
    prefix: "streambed-pg-",
    dir: isRoot ? "/tmp" : undefined,
  });
  const data = `${root}/data`;
  const pwfile = `${root}/pw`;
  await Deno.writeTextFile(pwfile, PG_TEST_PASSWORD + "\n");
  if (isRoot) {
    await new Deno.Command("chown", { args: ["-R", "nobody:nogroup", root] })
      .output();
  }
  await run([
    `${bin}/initdb`,
    "-D",
    data,
    "-U",
    PG_TEST_USER,
    `--pwfile=${pwfile}`,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "-E",
    "UTF8",
    "--no-instructions",
  ]);
  const port = freePort();
  const settings = [
    `-p ${port}`,
    `-k ${root}`,
    "-c listen_addresses=127.0.0.1",
    `-c fsync=${options.fsync ? "on" : "off"}`,
    "-c max_connections=100",
    "-c shared_buffers=32MB",
  ].join(" ");
  const start = () =>
    run([
      `${bin}/pg_ctl`,
      "-D",
      data,
      "-l",
      `${root}/log`,
      "-o",
      settings,
      "-w",
      "-t",
      "30",
      "start",
    ]).then(() => {});
  const stop = (mode: string) =>
    run([`${bin}/pg_ctl`, "-D", data, "-m", mode, "-w", "stop"]).then(() => {});
  await start();
  const urlWithPassword = (password: string) =>
    `postgres://${PG_TEST_USER}:${
      encodeURIComponent(password)
    }@127.0.0.1:${port}/postgres`;
  let destroyed = false;
  return {
    url: urlWithPassword(PG_TEST_PASSWORD),
    port,
    urlWithPassword,
    stop: () => stop("fast"),
    start,
    psql: (sql) =>
      run([
        `${bin}/psql`,
        "-h",
        root,
        "-p",
        String(port),
        "-U",
        PG_TEST_USER,
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-Atc",
        sql,
      ]),
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      await stop("immediate").catch(() => {});
      await Deno.remove(root, { recursive: true });
    },
    destroySync: () => {
      if (destroyed) return;
      destroyed = true;
      runSync([`${bin}/pg_ctl`, "-D", data, "-m", "immediate", "-w", "stop"]);
      Deno.removeSync(root, { recursive: true });
    },
  };
}

let shared: Promise<PgTestCluster> | undefined;

/**
 * One cluster per test file, started on first use and destroyed when the
 * file's tests end (`unload`).
 */
export function sharedPgCluster(): Promise<PgTestCluster> {
  if (shared === undefined) {
    shared = startPgCluster();
    shared.then((cluster) =>
      globalThis.addEventListener("unload", () => cluster.destroySync())
    ).catch(() => {});
  }
  return shared;
}

let schemas = 0;

/** A schema name not used before in this process. */
export function freshSchema(prefix = "t"): string {
  return `${prefix}_${Deno.pid}_${++schemas}`;
}
