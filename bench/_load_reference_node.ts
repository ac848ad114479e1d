/**
 * @module
 * Optional: run the reference server under Node instead of Deno (it is a
 * Node.js server; Deno runs it through node:http compatibility). Installs
 * `@durable-streams/server` with npm into a cache directory under $TMPDIR
 * once, writes a tiny ESM launcher beside it, and describes the command.
 */

import type { ServerCommand } from "./_load_process.ts";

/** Reference server version the benchmark pins. */
export const REFERENCE_VERSION = "0.3.7";

/** Launcher printed as `server.mjs`: same stdout contract as main.ts. */
const LAUNCHER =
  `import { DurableStreamTestServer } from "@durable-streams/server";
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const server = new DurableStreamTestServer({
  port: Number(flag("--port", "0")),
  host: "127.0.0.1",
  longPollTimeout: Number(flag("--long-poll-timeout-ms", "30000")),
});
const url = await server.start();
console.log(\`listening on \${url}\`);
const stop = async () => {
  await server.stop().catch(() => {});
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
`;

/** Directory holding the npm install and the launcher. */
export function nodeReferenceDir(): string {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  return `${tmp}/streambed-bench-reference-node-${REFERENCE_VERSION}`;
}

/** Installs the package (first run only) and writes the launcher; returns the directory. */
export async function prepareNodeReference(
  log: (line: string) => void,
): Promise<string> {
  const dir = nodeReferenceDir();
  const marker = `${dir}/node_modules/@durable-streams/server/package.json`;
  if (!(await exists(marker))) {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/package.json`,
      `{ "private": true, "type": "module" }\n`,
    );
    log(`npm install @durable-streams/server@${REFERENCE_VERSION} into ${dir}`);
    const install = await new Deno.Command("npm", {
      args: [
        "install",
        "--no-audit",
        "--no-fund",
        `@durable-streams/server@${REFERENCE_VERSION}`,
      ],
      cwd: dir,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!install.success) {
      throw new Error(
        `npm install failed in ${dir} (exit code ${install.code})`,
      );
    }
  }
  await Deno.writeTextFile(`${dir}/server.mjs`, LAUNCHER);
  return dir;
}

/** Command that starts the Node launcher on a free loopback port. */
export function nodeReferenceCommand(
  dir: string,
  startTimeoutMs: number,
): ServerCommand {
  return {
    name: "reference (node)",
    command: "node",
    args: ["server.mjs", "--port", "0"],
    cwd: dir,
    startTimeoutMs,
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
