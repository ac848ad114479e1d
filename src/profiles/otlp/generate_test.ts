import assert from "node:assert/strict";
import protobuf from "protobufjs";
import { TRACE_PROTO_JSON } from "./trace_proto.generated.ts";

Deno.test("trace_proto.generated.ts matches the vendored .proto files", async () => {
  const root = new protobuf.Root();
  for (
    const file of [
      "common/v1/common.proto",
      "resource/v1/resource.proto",
      "trace/v1/trace.proto",
      "collector/trace/v1/trace_service.proto",
    ]
  ) {
    const text = await Deno.readTextFile(
      new URL(`proto/${file}`, import.meta.url),
    );
    protobuf.parse(text, root, { keepCase: false });
  }
  assert.deepEqual(JSON.parse(JSON.stringify(root.toJSON())), TRACE_PROTO_JSON);
});
