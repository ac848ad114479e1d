/**
 * @module
 * Summarises a V8 `.cpuprofile` (from `deno run --cpu-prof`): the functions
 * with the most self time, and the most total time (self plus callees,
 * each function counted once per stack), as shares of the sampled time.
 *
 * ```sh
 * deno run -A bench/cpu_profile_top.ts /tmp/prof/CPU.*.cpuprofile [rows]
 * ```
 */

interface ProfileNode {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
  };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*\/(src|bench|node_modules)\//, "$1/");
  return `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
}

function summarise(profile: CpuProfile, rows: number): void {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i] ?? 0;
    const node = byId.get(profile.samples[i])!;
    const name = frameName(node);
    if (name.startsWith("(idle)")) continue;
    all += us;
    self.set(name, (self.get(name) ?? 0) + us);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined;) {
      const n = frameName(byId.get(id)!);
      if (!seen.has(n)) {
        seen.add(n);
        total.set(n, (total.get(n) ?? 0) + us);
      }
      id = parent.get(id);
    }
  }
  const print = (title: string, map: Map<string, number>) => {
    console.log(`\n${title} (of ${(all / 1000).toFixed(0)} ms busy)`);
    const sorted = [...map].sort((a, b) => b[1] - a[1]).slice(0, rows);
    for (const [name, us] of sorted) {
      console.log(`${(100 * us / all).toFixed(1).padStart(5)}%  ${name}`);
    }
  };
  print("self time", self);
  print("total time", total);
}

if (import.meta.main) {
  const [path, rows] = Deno.args;
  if (path === undefined) {
    console.error("usage: cpu_profile_top.ts <file.cpuprofile> [rows]");
    Deno.exit(2);
  }
  const profile = JSON.parse(await Deno.readTextFile(path)) as CpuProfile;
  summarise(profile, Number(rows ?? 30));
}
