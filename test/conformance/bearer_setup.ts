// Vitest setup for the auth-on conformance run (test/conformance_auth_test.ts):
// every request to the server under test carries the API key as a bearer
// header, as a configured client would, unless the test set its own
// Authorization (the subscription callback and ack tokens).
const baseUrl = process.env.DS_CONFORMANCE_URL ?? "";
const bearer = process.env.DS_CONFORMANCE_BEARER;

if (bearer !== undefined && bearer !== "") {
  const plain = globalThis.fetch;
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith(baseUrl)) return plain(input, init);
    const headers = new Headers(
      init?.headers ?? (input instanceof Request ? input.headers : undefined),
    );
    if (!headers.has("authorization")) {
      headers.set("authorization", `Bearer ${bearer}`);
    }
    return plain(input, { ...init, headers });
  };
}
