import assert from "node:assert/strict";
import { startFauxqs } from "fauxqs";
import { StreamError } from "../errors.ts";
import { objectStoreContract } from "./_contract.ts";
import { S3ObjectStore } from "./s3.ts";

// fauxqs is an S3 (and SQS/SNS) emulator that runs in-process on 127.0.0.1;
// each case gets its own server on a free port, stopped when it ends.
async function startS3(listPageKeysMax: number, prefix = "") {
  const server = await startFauxqs({
    port: 0,
    host: "127.0.0.1",
    logger: false,
  });
  server.createBucket("streambed-test");
  const store = new S3ObjectStore({
    bucket: "streambed-test",
    endpoint: server.address,
    region: "us-east-1",
    forcePathStyle: true,
    prefix,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    attemptsMax: 1,
    listPageKeysMax,
  });
  return {
    store,
    close: async () => {
      store.close();
      await server.stop();
    },
  };
}

objectStoreContract("S3ObjectStore (fauxqs)", (n) => startS3(n));
objectStoreContract(
  "S3ObjectStore (fauxqs, prefixed)",
  (n) => startS3(n, "tenant/a/"),
);

Deno.test("S3ObjectStore reports a stopped server as unavailable", async () => {
  const { store, close } = await startS3(10);
  await close();
  await assert.rejects(
    store.get("k"),
    (e) => e instanceof StreamError && e.kind === "unavailable",
  );
});

Deno.test("S3ObjectStore reports a missing bucket as internal", async () => {
  const server = await startFauxqs({
    port: 0,
    host: "127.0.0.1",
    logger: false,
  });
  const store = new S3ObjectStore({
    bucket: "no-such-bucket",
    endpoint: server.address,
    forcePathStyle: true,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  try {
    await assert.rejects(
      store.get("k"),
      (e) => e instanceof StreamError && e.kind === "internal",
    );
  } finally {
    store.close();
    await server.stop();
  }
});

/** A stand-in S3 on 127.0.0.1 whose replies the test chooses. */
async function withFakeS3(
  reply: (req: Request) => Response,
  fn: (store: S3ObjectStore) => Promise<void>,
): Promise<void> {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      await req.body?.cancel();
      return reply(req);
    },
  );
  const store = new S3ObjectStore({
    bucket: "fake-bucket",
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    attemptsMax: 1,
  });
  try {
    await fn(store);
  } finally {
    store.close();
    await server.shutdown();
  }
}

function isKind(kind: string): (e: unknown) => boolean {
  return (e) => e instanceof StreamError && e.kind === kind;
}

Deno.test("S3ObjectStore maps 503 and 500 replies to unavailable", async () => {
  await withFakeS3(
    (req) => new Response(null, { status: req.method === "PUT" ? 503 : 500 }),
    async (store) => {
      await assert.rejects(
        store.put("k", new Uint8Array(1)),
        isKind("unavailable"),
      );
      await assert.rejects(store.head("k"), isKind("unavailable"));
    },
  );
});

Deno.test("S3ObjectStore reports a reply for the wrong range as corrupt", async () => {
  await withFakeS3(
    () =>
      new Response(new Uint8Array([1, 2, 3, 4]), {
        status: 206,
        headers: { "content-range": "bytes 0-3/10" },
      }),
    async (store) => {
      await assert.rejects(store.getRange("k", 4, 4), isKind("corrupt"));
    },
  );
});

Deno.test("S3ObjectStore reports a listed key outside the prefix as corrupt", async () => {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Name>fake-bucket</Name><Prefix>p/</Prefix><KeyCount>1</KeyCount>
<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>
<Contents><Key>q/x</Key><Size>1</Size></Contents></ListBucketResult>`;
  await withFakeS3(
    () => new Response(xml, { headers: { "content-type": "application/xml" } }),
    async (store) => {
      await assert.rejects(store.list("p/"), isKind("corrupt"));
    },
  );
});
