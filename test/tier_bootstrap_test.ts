/**
 * Bootstrap: a server process publishes several segments per stream (fs
 * store, then S3 via fauxqs started here), is killed with SIGKILL, and a
 * fresh node with `--bootstrap` on an empty data dir and the same object
 * store serves every stream back byte-identical: same offsets, content
 * types, closure, and fork links.
 */

import assert from "node:assert/strict";
import { startFauxqs } from "fauxqs";
import { killServer, spawnServer } from "./_server.ts";
import { concatBytes } from "../src/bytes.ts";

const TINY = ["--segment-bytes", "4096", "--segment-age-ms", "50"];

async function put(
  url: string,
  path: string,
  headers: Record<string, string>,
  body?: Uint8Array<ArrayBuffer> | string,
) {
  const response = await fetch(`${url}/v1/stream/${path}`, {
    method: "PUT",
    headers,
    body,
  });
  await response.body?.cancel();
  assert.equal(response.status, 201, `PUT ${path}`);
}

async function post(
  url: string,
  path: string,
  headers: Record<string, string>,
  body?: Uint8Array<ArrayBuffer> | string,
) {
  const response = await fetch(`${url}/v1/stream/${path}`, {
    method: "POST",
    headers,
    body,
  });
  await response.body?.cancel();
  assert.ok(
    response.status === 204 || response.status === 200,
    `POST ${path}: ${response.status}`,
  );
}

interface Snapshot {
  bytes: Uint8Array;
  contentType: string;
  nextOffset: string;
  closed: boolean;
}

/** Every byte of a stream, by catch-up reads, plus its final headers. */
async function snapshot(url: string, path: string): Promise<Snapshot> {
  const parts: Uint8Array[] = [];
  let offset = "-1";
  for (let guard = 0; guard < 10_000; guard++) {
    const response = await fetch(`${url}/v1/stream/${path}?offset=${offset}`);
    assert.equal(response.status, 200, `GET ${path}`);
    const body = new Uint8Array(await response.arrayBuffer());
    const contentType = response.headers.get("content-type")!;
    // JSON reads come back as arrays: keep the raw text of each response.
    parts.push(body);
    offset = response.headers.get("stream-next-offset")!;
    if (response.headers.get("stream-up-to-date") === "true") {
      return {
        bytes: concatBytes(
          contentType.includes("json") ? parts.map(unwrapJson) : parts,
        ),
        contentType,
        nextOffset: offset,
        closed: response.headers.get("stream-closed") === "true",
      };
    }
  }
  throw new Error("stream never caught up");
}

function unwrapJson(body: Uint8Array): Uint8Array {
  const text = new TextDecoder().decode(body);
  const items = JSON.parse(text) as unknown[];
  return new TextEncoder().encode(
    items.map((i) => JSON.stringify(i) + ",").join(""),
  );
}

async function waitPublished(
  url: string,
  path: string,
  segmentsMin: number,
): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const response = await fetch(`${url}/v1/stream/${path}/_details`);
    const d = await response.json();
    if (
      d.uploadedThroughOffset === d.tailOffset &&
      d.segmentCount >= segmentsMin
    ) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${path} was never fully published`);
}

/** Writes streams, publishes them, kills the node, bootstraps a new one. */
async function bootstrapScenario(
  storeArgs: string[],
  env: Record<string, string>,
) {
  const dirA = await Deno.makeTempDir({ prefix: "streambed-boot-a-" });
  const dirB = await Deno.makeTempDir({ prefix: "streambed-boot-b-" });
  const first = await spawnServer(dirA, [...TINY, ...storeArgs], env);
  const names = ["j", "bin", "closed", "fork"];
  const before = new Map<string, Snapshot>();
  try {
    const json = { "content-type": "application/json" };
    await put(first.url, "j", json);
    for (let i = 0; i < 40; i++) {
      await post(
        first.url,
        "j",
        json,
        JSON.stringify(
          Array.from({ length: 10 }, (_, k) => ({ i, k, pad: "p".repeat(40) })),
        ),
      );
    }
    const bin = { "content-type": "application/octet-stream" };
    await put(first.url, "bin", bin);
    for (let i = 0; i < 20; i++) {
      await post(
        first.url,
        "bin",
        bin,
        crypto.getRandomValues(new Uint8Array(1500)),
      );
    }
    await put(
      first.url,
      "closed",
      { "content-type": "text/plain" },
      "first line\n".repeat(500),
    );
    await post(first.url, "closed", {
      "content-type": "text/plain",
      "stream-closed": "true",
    }, "last\n");
    await put(first.url, "fork", {
      "content-type": "application/json",
      "stream-forked-from": "/v1/stream/j",
    });
    for (let i = 0; i < 10; i++) {
      await post(
        first.url,
        "fork",
        json,
        JSON.stringify(Array.from({ length: 10 }, (_, k) => ({ fork: i, k }))),
      );
    }
    await waitPublished(first.url, "j", 3);
    await waitPublished(first.url, "bin", 3);
    await waitPublished(first.url, "closed", 1);
    await waitPublished(first.url, "fork", 1);
    for (const name of names) before.set(name, await snapshot(first.url, name));
    assert.ok(before.get("closed")!.closed);
  } finally {
    await killServer(first);
  }
  const second = await spawnServer(dirB, [...storeArgs, "--bootstrap"], env);
  try {
    for (const name of names) {
      const after = await snapshot(second.url, name);
      const was = before.get(name)!;
      assert.equal(after.nextOffset, was.nextOffset, `${name} tail offset`);
      assert.equal(after.contentType, was.contentType, `${name} content type`);
      assert.equal(after.closed, was.closed, `${name} closure`);
      assert.deepEqual(after.bytes, was.bytes, `${name} bytes`);
    }
    // The restored node keeps appending at the same offsets.
    await post(second.url, "j", { "content-type": "application/json" }, "[1]");
    const grown = await snapshot(second.url, "j");
    assert.equal(grown.bytes.length, before.get("j")!.bytes.length + 2);
  } finally {
    await killServer(second);
    await Deno.remove(dirA, { recursive: true });
    await Deno.remove(dirB, { recursive: true });
  }
}

Deno.test("--bootstrap restores every published stream from an fs object store", async () => {
  const objects = await Deno.makeTempDir({ prefix: "streambed-boot-objects-" });
  try {
    await bootstrapScenario(
      ["--object-store", "fs", "--object-dir", objects],
      {},
    );
  } finally {
    await Deno.remove(objects, { recursive: true });
  }
});

Deno.test("--bootstrap restores every published stream from S3 (fauxqs)", async () => {
  const server = await startFauxqs({
    port: 0,
    host: "127.0.0.1",
    logger: false,
  });
  server.createBucket("streambed-boot");
  try {
    await bootstrapScenario([
      "--object-store",
      "s3",
      "--s3-bucket",
      "streambed-boot",
      "--s3-endpoint",
      server.address,
      "--s3-region",
      "us-east-1",
      "--s3-prefix",
      "node/",
    ], { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" });
  } finally {
    await server.stop();
  }
});
