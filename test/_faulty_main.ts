/**
 * @module
 * `main.ts` with a `FaultyWal`: after `FAULTY_WAL_AFTER` commits, every
 * commit fails with `FAULTY_WAL_FAULT` (`full` or `eio`), the first one only
 * once the process gets SIGUSR1, so a test can gather requests in the queue
 * first. Tests spawn it to see what clients of a real process get when the
 * WAL fails.
 */

import { runCli } from "../src/cli.ts";
import { type Fault, FaultyWal } from "./_faulty_wal.ts";

if (import.meta.main) {
  const after = Number(Deno.env.get("FAULTY_WAL_AFTER") ?? "0");
  const fault = (Deno.env.get("FAULTY_WAL_FAULT") ?? "none") as Fault;
  Deno.exit(
    await runCli(Deno.args, {
      wrapWal: (store) => {
        const faulty = new FaultyWal(store);
        faulty.faultAfter = { commits: after, fault };
        faulty.hold = new Promise((resolve) => {
          const release = () => {
            Deno.removeSignalListener("SIGUSR1", release);
            resolve();
          };
          Deno.addSignalListener("SIGUSR1", release);
        });
        return faulty;
      },
    }),
  );
}
