/**
 * @module
 * Runs the upstream conformance suite (vitest under Deno, pinned in
 * deno.json) against a server URL and returns vitest's JSON report.
 */

/** The parts of vitest's JSON report the tests read. */
export interface VitestReport {
  /** Tests that passed. */
  numPassedTests: number;
  /** Tests that failed. */
  numFailedTests: number;
  /** Per-file results. */
  testResults: {
    assertionResults: {
      fullName: string;
      status: string;
      failureMessages: string[];
    }[];
  }[];
}

/**
 * Runs the suite against `url`; `stderr` is vitest's, for failure messages.
 * With `bearer`, every request the suite sends carries that API key.
 */
export async function runConformanceSuite(
  url: string,
  options: { subscriptions: boolean; bearer?: string },
): Promise<{ report: VitestReport; stderr: string }> {
  const reportPath = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "npm:vitest@4.1.12",
        "run",
        "--config",
        "test/conformance/vitest.config.ts",
        "--reporter=json",
        `--outputFile=${reportPath}`,
      ],
      cwd: new URL("..", import.meta.url).pathname,
      env: {
        DS_CONFORMANCE_URL: url,
        DS_CONFORMANCE_LONG_POLL_MS: "500",
        DS_CONFORMANCE_SUBSCRIPTIONS: options.subscriptions ? "1" : "0",
        DS_CONFORMANCE_BEARER: options.bearer ?? "",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const report = JSON.parse(
      await Deno.readTextFile(reportPath),
    ) as VitestReport;
    return { report, stderr: new TextDecoder().decode(output.stderr) };
  } finally {
    await Deno.remove(reportPath).catch(() => {});
  }
}
