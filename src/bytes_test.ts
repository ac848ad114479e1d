import assert from "node:assert/strict";
import { concatBytes, readBytesLimited } from "./bytes.ts";

function streamOf(...parts: number[][]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(Uint8Array.from(part));
      controller.close();
    },
  });
}

Deno.test("concatBytes() joins parts in order", () => {
  assert.deepEqual(
    concatBytes([Uint8Array.of(1), Uint8Array.of(2, 3)]),
    Uint8Array.of(1, 2, 3),
  );
  assert.deepEqual(concatBytes([]), new Uint8Array(0));
});

Deno.test("readBytesLimited() reads up to the limit and refuses past it", async () => {
  assert.deepEqual(
    await readBytesLimited(streamOf([1, 2], [3]), 3),
    Uint8Array.of(1, 2, 3),
  );
  assert.equal(await readBytesLimited(streamOf([1, 2], [3, 4]), 3), undefined);
  assert.deepEqual(await readBytesLimited(streamOf(), 3), new Uint8Array(0));
});
