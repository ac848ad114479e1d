// The streams page: a paged list (`GET /v1/streams`: name, content type,
// size, next offset, closed, TTL, profile) with a prefix filter,
// a create form (`PUT /v1/stream/{name}`) and delete with confirmation
// (`DELETE /v1/stream/{name}`), each shown only where the key may use it
// (`GET /v1/server/_access`); a refusal still shows the server's 403.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, apiJson, errorOf } from "./api.js";
import { streamPath } from "./api.js";
import { ErrorLine, html } from "./ui.js";
import { formatBytes, mayDo } from "./format.js";
import { Link, streamPage } from "./nav.js";

const PAGE_SIZE = 50;
const CONTENT_TYPES = [
  "application/json",
  "text/plain",
  "application/octet-stream",
];

function CreateForm({ onCreated }) {
  const [name, setName] = useState("");
  const [type, setType] = useState(CONTENT_TYPES[0]);
  const [ttl, setTtl] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const headers = { "content-type": type };
      if (ttl !== "") headers["stream-ttl"] = ttl;
      const response = await api("PUT", streamPath(name.trim()), { headers });
      if (!response.ok) throw await errorOf(response);
      await response.body?.cancel();
      setName("");
      onCreated(name.trim());
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <form class="card row" onSubmit=${submit} aria-label="Create a stream">
      <h2>Create a stream</h2>
      <div class="field">
        <label for="create-name">Name</label>
        <input id="create-name" required value=${name}
          onInput=${(e) => setName(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="create-type">Content type</label>
        <select id="create-type" value=${type}
          onChange=${(e) => setType(e.currentTarget.value)}>
            ${CONTENT_TYPES.map((t) => html`<option value=${t}>${t}</option>`)}
          </select>
      </div>
      <div class="field">
        <label for="create-ttl">TTL, seconds (optional)</label>
        <input id="create-ttl" inputmode="numeric" pattern="[0-9]*"
          value=${ttl}
          onInput=${(e) => setTtl(e.currentTarget.value)} />
      </div>
      <button type="submit" disabled=${busy}>Create</button>
      <${ErrorLine} error=${error} />
    </form>
  `;
}

function DeleteButton({ name, onDeleted }) {
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState(null);
  const cancel = useRef(null);
  // Keyboard users land on the safe choice when asked.
  useEffect(() => {
    if (asking) cancel.current?.focus();
  }, [asking]);
  const remove = async () => {
    setError(null);
    try {
      const response = await api("DELETE", streamPath(name));
      if (!response.ok) throw await errorOf(response);
      await response.body?.cancel();
      setAsking(false);
      onDeleted(name);
    } catch (e) {
      setError(e);
      setAsking(false);
    }
  };
  if (!asking) {
    return html`
      <button type="button" class="danger"
        aria-label=${`Delete ${name}`} onClick=${() =>
          setAsking(true)}>Delete</button>
      <${ErrorLine} error=${error} />
    `;
  }
  return html`<span role="group" aria-label=${`Confirm deleting ${name}`} class="confirm">
    Delete <strong>${name}</strong>?
    <button type="button" class="danger" onClick=${remove}>Yes, delete</button>
    <button type="button" ref=${cancel} onClick=${() =>
    setAsking(false)}>Cancel</button>
  </span>`;
}

/** The streams page. */
export function StreamsPage() {
  const [prefix, setPrefix] = useState("");
  const [pages, setPages] = useState([""]); // the `after` of each page seen
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [reload, setReload] = useState(0);
  const after = pages[pages.length - 1];
  useEffect(() => {
    const query = new URLSearchParams({
      prefix,
      after,
      limit: String(PAGE_SIZE),
    });
    let live = true;
    apiJson("GET", `/v1/streams?${query}`)
      .then((body) => live && (setPage(body), setError(null)))
      .catch((e) => live && (setPage(null), setError(e)));
    return () => {
      live = false;
    };
  }, [prefix, after, reload]);
  // What the key may do: undefined while asking, null when the server
  // does not say (then every button shows and the server decides).
  const [access, setAccess] = useState(undefined);
  useEffect(() => {
    apiJson("GET", "/v1/server/_access").then(setAccess)
      .catch(() => setAccess(null));
  }, []);
  const known = access !== undefined;
  const refresh = () => setReload((n) => n + 1);
  // A profile column when the server lists profiles.
  const hasProfile = page?.streams.some((s) => s.profile !== undefined);
  return html`
    <h1>Streams</h1>
    ${known && mayDo(access, "write") &&
      html`<${CreateForm} onCreated=${refresh} />`}
    <section class="card" aria-labelledby="list-title">
          <h2 id="list-title">Streams on this server</h2>
          <form class="row" role="search" onSubmit=${(e) => e.preventDefault()}>
            <div class="field">
              <label for="prefix">Name starts with</label>
              <input id="prefix" type="search" value=${prefix}
                onInput=${(e) => {
                  setPrefix(e.currentTarget.value);
                  setPages([""]);
                }} />
            </div>
            <button type="button" onClick=${refresh}>Refresh</button>
          </form>
          <${ErrorLine} error=${error} />
          ${page === null ? null : html`
            <div class="scroll">
              <table class="list" id="streams">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Content type</th>
                    <th scope="col">Size</th>
                    <th scope="col">Next offset</th>
                    <th scope="col">Closed</th>
                    <th scope="col">TTL</th>
                    ${hasProfile && html`<th scope="col">Profile</th>`}
                    <th scope="col"><span class="sr">Actions</span></th>
                  </tr>
                </thead>
                <tbody>
                        ${page.streams.length === 0
                          ? html`
                            <tr>
                              <td colspan=${hasProfile
                                ? 8
                                : 7}>No streams${prefix
                                ? ` starting with "${prefix}"`
                                : ""}.</td>
                            </tr>
                          `
                          : page.streams.map((s) =>
                            html`
                              <tr key=${s.name} data-stream=${s.name}>
                                <td>
                                  <${Link} href=${streamPage(s.name)}>${s
                                    .name}<//></td>
                                              <td>${s.contentType}</td>
                                              <td class="size" title=${s
                                                  .sizeBytes === undefined
                                                ? null
                                                : `${s.sizeBytes} bytes`}>${formatBytes(
                                                  s.sizeBytes,
                                                )}</td>
                                              <td><code>${s
                                                .nextOffset}</code></td>
                                              <td>${s.closed
                                                ? "closed"
                                                : "open"}</td>
                                              <td>${s.ttlSeconds ?? "—"}</td>
                                              ${hasProfile &&
                                                html`<td>${
                                                  s.profile ?? "—"
                                                }</td>`}
                                              <td>${known &&
                                                mayDo(
                                                  access,
                                                  "delete",
                                                  s.name,
                                                ) &&
                                                html`<${DeleteButton} name=${s.name} onDeleted=${refresh} />`}</td>
                                            </tr>
                            `
                          )}
                      </tbody>
              </table>
            </div>
          `}
          <nav class="row" aria-label="Pages of streams">
            <button type="button" disabled=${pages.length === 1}
              onClick=${() =>
                setPages(pages.slice(0, -1))}>Previous page</button>
            <button type="button" disabled=${!page?.next}
              onClick=${() =>
                setPages([...pages, page.next])}>Next page</button>
          </nav>
        </section>
  `;
}
