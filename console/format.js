// Pure helpers of the console (no DOM, no imports), tested by
// format_test.ts: messages of a payload, hex dumps, Prometheus text, the
// words of a query, aggregate buckets as chart columns.

export function isJson(type) {
  return /^application\/(.+\+)?json\b/i.test(type ?? "");
}

export function isText(type) {
  return /^text\//i.test(type ?? "");
}

/** Messages of one payload: JSON elements, one text, or bytes. */
export function messagesOf(type, text, base64) {
  if (base64) return [{ kind: "bytes", value: fromBase64(text) }];
  if (isJson(type)) {
    const value = JSON.parse(text);
    return (Array.isArray(value) ? value : [value])
      .map((v) => ({ kind: "json", value: v }));
  }
  return [{ kind: "text", value: text }];
}

/** A hex dump: offset, 16 bytes in hex, their printable ASCII. */
export function hexDump(bytes) {
  const lines = [];
  const max = Math.min(bytes.length, 4096);
  for (let i = 0; i < max; i += 16) {
    const row = bytes.subarray(i, Math.min(i + 16, max));
    const hex = [...row].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = [...row].map((b) =>
      b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "."
    ).join("");
    lines.push(
      `${i.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`,
    );
  }
  if (bytes.length > max) lines.push(`… ${bytes.length - max} more bytes`);
  return lines.join("\n");
}

/** Base64 text to bytes. */
export function fromBase64(text) {
  const binary = atob(text.replace(/\s+/g, ""));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The words of a query worth highlighting (values of `f:v`, bare terms). */
export function wordsOf(query) {
  return query.split(/\s+/)
    .map((w) =>
      w.replace(/^[-+(]*(\w+:)?/, "").replace(/[)"*]+$/g, "")
        .replace(/^"/, "")
    )
    .filter((w) => w.length > 0 && !/^(AND|OR|NOT)$/.test(w));
}

/**
 * `_aggregate` buckets as chart columns: [starts in seconds, then one
 * column per group], a group missing from a bucket as null.
 */
export function aggregateSeries(body, measure) {
  const starts = [...new Set(body.buckets.map((b) => b.start))].sort();
  const groups = new Map();
  for (const bucket of body.buckets) {
    const x = starts.indexOf(bucket.start);
    for (const group of bucket.groups) {
      const label = JSON.stringify(group.key ?? {});
      if (!groups.has(label)) groups.set(label, starts.map(() => null));
      const m = group.measures?.[measure];
      // A summary charts its average, a count its count.
      groups.get(label)[x] = m?.avg ?? m?.count ?? null;
    }
  }
  return {
    names: [...groups.keys()],
    data: [starts.map((s) => Date.parse(s) / 1000), ...groups.values()],
  };
}

/** Parses Prometheus text into sums by metric name (labels folded). */
export function parseMetrics(text) {
  const sums = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (match === null) continue;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    sums.set(match[1], (sums.get(match[1]) ?? 0) + value);
  }
  return sums;
}

/** Whether stream path `name` matches glob `pattern` (`*` one segment, `**` any). */
export function globMatches(pattern, name) {
  const glob = pattern.split("/");
  const parts = name.split("/");
  const match = (g, p) => {
    if (g === glob.length) return p === parts.length;
    if (glob[g] === "**") {
      for (let q = p; q <= parts.length; q++) if (match(g + 1, q)) return true;
      return false;
    }
    if (p === parts.length) return false;
    const ok = glob[g] === "*" ? parts[p].length > 0 : glob[g] === parts[p];
    return ok && match(g + 1, p + 1);
  };
  return match(0, 0);
}

/**
 * Whether what `GET /v1/server/_access` answered grants `scope` on stream
 * `name` (any stream when `name` is omitted): everything without auth or
 * when the answer is unknown (null: an older server), `admin` implying the
 * other scopes. The server decides in the end; this only hides buttons.
 */
export function mayDo(access, scope, name) {
  if (access === null || access === undefined || access.auth === false) {
    return true;
  }
  const scopes = access.scopes ?? [];
  if (!scopes.includes(scope) && !scopes.includes("admin")) return false;
  if (name === undefined) return true;
  return (access.streams ?? []).some((g) => globMatches(g, name));
}

/** A byte count for people: 0 B, 999 B, 1.2 KiB, 3.4 MiB, ... */
export function formatBytes(n) {
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
