/**
 * @module
 * One request with a JSON body and its whole answer, for the cross-layer
 * tests that speak JSON to a server (schemas, search, companions).
 */

/** The JSON content type requests carry unless told otherwise. */
export const JSON_HEADERS: Record<string, string> = {
  "content-type": "application/json",
};

/** An answer read whole. */
export interface JsonReply {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** The body as text. */
  text: string;
  /** The body parsed; `undefined` when it is empty or not JSON. */
  // deno-lint-ignore no-explicit-any
  json: any;
}

/**
 * Sends `body` (a string as it is, anything else as JSON) with `headers`
 * (the JSON content type unless given) and reads the whole answer.
 */
export async function sendJson(
  url: string,
  method = "GET",
  body?: unknown,
  headers: Record<string, string> = JSON_HEADERS,
): Promise<JsonReply> {
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined
      ? undefined
      : typeof body === "string"
      ? body
      : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: response.status, headers: response.headers, text, json };
}
