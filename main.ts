/**
 * @module
 * Entry point: `deno run -A main.ts [flags]`. See `--help`.
 */

import { runCli } from "./src/cli.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
