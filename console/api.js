// The console's calls to the public HTTP API. The API key, when the user
// gives one, lives in sessionStorage only (gone with the tab) and travels
// in the Authorization header, never in a URL.

const KEY_ITEM = "streambed.apiKey";
const authListeners = new Set();

/** The API key of this tab's session, or "". */
export function apiKey() {
  return sessionStorage.getItem(KEY_ITEM) ?? "";
}

/** Keeps `key` for this tab's session ("" forgets it). */
export function setApiKey(key) {
  if (key === "") sessionStorage.removeItem(KEY_ITEM);
  else sessionStorage.setItem(KEY_ITEM, key);
  for (const listener of authListeners) listener(false);
}

/** Calls `listener(true)` when the server asks for a key (401). */
export function onAuthNeeded(listener) {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

/** A refused or failed call: status and the server's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** `fetch` with the session's key; a 401 asks the user for a key. */
export async function api(method, path, init = {}) {
  const headers = new Headers(init.headers);
  const key = apiKey();
  if (key !== "") headers.set("authorization", `Bearer ${key}`);
  const response = await fetch(path, {
    method,
    body: init.body,
    headers,
    signal: init.signal,
    cache: "no-store",
  });
  if (response.status === 401) {
    for (const listener of authListeners) listener(true);
  }
  return response;
}

/** The error a non-2xx response stands for, with the server's message. */
export async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body?.error?.message) {
      message = `${response.status}: ${body.error.message}`;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message);
}

/** The JSON body of a 2xx answer (null for 204), or throws `ApiError`. */
export async function apiJson(method, path, init = {}) {
  const response = await api(method, path, init);
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204 || method === "HEAD") return null;
  return await response.json();
}

/**
 * The JSON body of a 2xx answer, or of a 408 that carries a partial
 * result (`_search` and `_aggregate` out of time: the hits or buckets found
 * so far, `timed_out: true`); else throws `ApiError`.
 */
export async function apiJsonPartial(method, path, init = {}) {
  const response = await api(method, path, init);
  if (response.status === 408) {
    const body = await response.json().catch(() => null);
    if (body !== null && body.timed_out === true) return body;
    throw new ApiError(408, "408: timed out");
  }
  if (!response.ok) throw await errorOf(response);
  return await response.json();
}

/** `/v1/stream/{name}[/{sub}]`, each path segment of the name encoded. */
export function streamPath(name, sub) {
  const encoded = name.split("/").map(encodeURIComponent).join("/");
  return `/v1/stream/${encoded}${sub === undefined ? "" : `/${sub}`}`;
}

/**
 * Reads an SSE response (`?live=sse`) with `fetch`, so the key can travel
 * in a header (EventSource cannot send one). Calls `onData(payload)` with
 * each data event's text and `onControl(object)` with each control event;
 * resolves when the server ends the connection or `signal` aborts.
 */
export async function readSse(path, { onData, onControl, signal }) {
  const response = await api("GET", path, {
    signal,
    headers: { accept: "text/event-stream" },
  });
  if (!response.ok) throw await errorOf(response);
  const base64 = response.headers.get("stream-sse-data-encoding") === "base64";
  const reader = response.body.pipeThrough(new TextDecoderStream())
    .getReader();
  let buffer = "";
  let event = "message";
  let data = [];
  const dispatch = () => {
    const text = data.join("\n");
    if (event === "data") onData(text, base64);
    else if (event === "control") onControl(JSON.parse(text));
    event = "message";
    data = [];
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += value;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, "");
        buffer = buffer.slice(newline + 1);
        if (line === "") dispatch();
        else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value.startsWith(" ")) value = value.slice(1);
          if (field === "event") event = value;
          else if (field === "data") data.push(value);
        }
      }
    }
  } catch (error) {
    if (signal?.aborted) return;
    throw error;
  }
}
