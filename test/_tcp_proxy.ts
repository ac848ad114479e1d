/**
 * A TCP proxy for network-partition tests: forwards connections from a
 * port of its own to `127.0.0.1:targetPort` until `cut()`, which drops every
 * open connection and refuses new ones until `heal()`. `spawnTcpProxy`
 * runs it in a child process (SIGUSR1 cuts, SIGUSR2 heals), so a test
 * whose event loop blocks on a synchronous database call still has it
 * forwarding.
 */

/** A running proxy. */
export interface TcpProxy {
  /** The port clients connect to. */
  port: number;
  /** Drops every connection and refuses new ones. */
  cut(): void;
  /** Accepts connections again. */
  heal(): void;
  /** Stops listening and drops every connection. */
  close(): void;
}

/** Starts a proxy to `127.0.0.1:targetPort` on a free port. */
export function startTcpProxy(targetPort: number): TcpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let cut = false;
  const drop = () => {
    for (const conn of open) {
      try {
        conn.close();
      } catch { /* closed already */ }
    }
    open.clear();
  };
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable);
    } catch { /* dropped */ }
    for (const conn of [from, to]) {
      open.delete(conn);
      try {
        conn.close();
      } catch { /* closed already */ }
    }
  };
  (async () => {
    for await (const client of listener) {
      if (cut) {
        client.close();
        continue;
      }
      try {
        const server = await Deno.connect({
          hostname: "127.0.0.1",
          port: targetPort,
        });
        open.add(client);
        open.add(server);
        pipe(client, server);
        pipe(server, client);
      } catch {
        client.close();
      }
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    cut() {
      cut = true;
      drop();
    },
    heal() {
      cut = false;
    },
    close() {
      cut = true;
      drop();
      try {
        listener.close();
      } catch { /* closed already */ }
    },
  };
}

/** A proxy in a child process. */
export interface TcpProxyProcess {
  /** The port clients connect to. */
  port: number;
  /** Drops every connection and refuses new ones. */
  cut(): Promise<void>;
  /** Accepts connections again. */
  heal(): Promise<void>;
  /** Stops the child. */
  close(): Promise<void>;
}

/** Starts `startTcpProxy(targetPort)` in a child process. */
export async function spawnTcpProxy(
  targetPort: number,
): Promise<TcpProxyProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, String(targetPort)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const ack = async (wanted: string) => {
    while (!out.includes(wanted)) {
      const { done, value } = await lines.read();
      if (done) throw new Error(`proxy exited: ${out}`);
      out += value;
    }
    out = out.slice(out.indexOf(wanted) + wanted.length);
  };
  while (!/port (\d+)\n/.test(out)) {
    const { done, value } = await lines.read();
    if (done) throw new Error(`proxy did not start: ${out}`);
    out += value;
  }
  const port = Number(/port (\d+)\n/.exec(out)![1]);
  out = "";
  return {
    port,
    async cut() {
      child.kill("SIGUSR1");
      await ack("cut\n");
    },
    async heal() {
      child.kill("SIGUSR2");
      await ack("healed\n");
    },
    async close() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await lines.cancel().catch(() => {});
    },
  };
}

if (import.meta.main) {
  const proxy = startTcpProxy(Number(Deno.args[0]));
  Deno.addSignalListener("SIGUSR1", () => {
    proxy.cut();
    console.log("cut");
  });
  Deno.addSignalListener("SIGUSR2", () => {
    proxy.heal();
    console.log("healed");
  });
  console.log(`port ${proxy.port}`);
}
