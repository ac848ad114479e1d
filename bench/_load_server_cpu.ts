/**
 * @module
 * CPU time of a server process on this machine, from `/proc/PID/stat`
 * (user + system clock ticks). Read before and after a measured phase, it
 * gives the server's CPU per operation, which is steadier than throughput
 * on a shared machine. Linux only; elsewhere the reading is null.
 */

/** Clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`, 100 on Linux). */
export const CLOCK_TICKS_PER_S = 100;

/** User + system CPU time of `pid` in microseconds, or null when unreadable. */
export function serverCpuUs(pid: number | null): number | null {
  if (pid === null) return null;
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  return cpuUsFromStat(stat);
}

/**
 * Parses utime + stime out of a `/proc/PID/stat` line. The command name (2nd
 * field) is in parentheses and may hold spaces, so fields are counted after
 * the last `)`: utime and stime are fields 14 and 15 of the line.
 */
export function cpuUsFromStat(stat: string): number | null {
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return ((utime + stime) * 1_000_000) / CLOCK_TICKS_PER_S;
}

/** Server CPU µs per operation (or per MB) between two readings, or null. */
export function cpuUsPerOp(
  before: number | null,
  after: number | null,
  ops: number,
): number | null {
  if (before === null || after === null || ops <= 0) return null;
  return (after - before) / ops;
}

/**
 * CPU µs of each thread of `pid` (from `/proc/PID/task/TID/stat`), summed
 * by thread name; the main thread is named `main`.
 */
export function threadCpuUs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/stat`);
    } catch {
      continue; // the thread ended
    }
    const tid = Number(entry.name);
    const name = tid === pid
      ? "main"
      : stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    out.set(name, (out.get(name) ?? 0) + (cpuUsFromStat(stat) ?? 0));
  }
  return out;
}
