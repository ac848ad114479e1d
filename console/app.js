// The console's entry: the page for the URL (`/console`, `/console/stream/
// {name}`, `/console/server`), navigation without reloads, and the API key
// form shown when the server answers 401.

import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { apiKey, onAuthNeeded, setApiKey } from "./api.js";
import { html } from "./ui.js";
import { StreamsPage } from "./streams_page.js";
import { StreamPage } from "./stream_page.js";
import { ServerPage } from "./server_page.js";
import { Link, STREAM_PAGE } from "./nav.js";

function KeyForm({ onDone }) {
  const [key, setKey] = useState("");
  const input = useRef(null);
  useEffect(() => input.current?.focus(), []);
  const submit = (event) => {
    event.preventDefault();
    setApiKey(key.trim());
    onDone();
  };
  return html`
    <form class="card keyform" onSubmit=${submit}>
      <h2>API key needed</h2>
      <p>This server asks for an API key. It is kept for this browser tab only
        (session storage) and sent in the Authorization header.</p>
      <label for="api-key">API key</label>
      <input id="api-key" ref=${input} type="password" autocomplete="off"
        required
        value=${key} onInput=${(e) => setKey(e.currentTarget.value)} />
      <button type="submit">Use key</button>
    </form>
  `;
}

function Page({ path, version }) {
  if (path.startsWith(STREAM_PAGE)) {
    const name = path.slice(STREAM_PAGE.length).split("/")
      .map(decodeURIComponent).join("/");
    return html`<${StreamPage} key=${name + version} name=${name} />`;
  }
  if (path === "/console/server") {
    return html`<${ServerPage} key=${version} />`;
  }
  return html`<${StreamsPage} key=${version} />`;
}

function App() {
  const [path, setPath] = useState(location.pathname);
  const [needKey, setNeedKey] = useState(false);
  const [version, setVersion] = useState(0);
  const [hasKey, setHasKey] = useState(apiKey() !== "");
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    addEventListener("popstate", onPop);
    const off = onAuthNeeded((needed) => {
      setHasKey(apiKey() !== "");
      if (needed) setNeedKey(true);
    });
    return () => {
      removeEventListener("popstate", onPop);
      off();
    };
  }, []);
  useEffect(() => {
    document.title = path.startsWith(STREAM_PAGE)
      ? "Stream · Streambed console"
      : path === "/console/server"
      ? "Server · Streambed console"
      : "Streams · Streambed console";
  }, [path]);
  const keyDone = () => {
    setNeedKey(false);
    setVersion((v) => v + 1);
  };
  const forget = () => {
    setApiKey("");
    setVersion((v) => v + 1);
  };
  return html`
    <header class="top">
      <strong class="brand">Streambed</strong>
      <nav aria-label="Console pages">
        <${Link} href="/console"
          aria-current=${path === "/console" ? "page" : undefined}>Streams<//>
            <${Link} href="/console/server"
              aria-current=${path === "/console/server"
                ? "page"
                : undefined}>Server<//>
          </nav>
          ${hasKey
            ? html`<button type="button" class="link" onClick=${forget}>Forget key</button>`
            : html`
              <button type="button" class="link"
                onClick=${() => setNeedKey(true)}>Set API key</button>
            `}
        </header>
        <main id="main">
          ${needKey ? html`<${KeyForm} onDone=${keyDone} />` : null}
          <${Page} path=${path} version=${version} />
        </main>
  `;
}

render(html`<${App} />`, document.getElementById("app"));
