// Vitest config for the upstream conformance suite; run by test/conformance_test.ts.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/conformance/suite.vitest.ts"],
    setupFiles: ["test/conformance/bearer_setup.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    fileParallelism: false,
  },
});
