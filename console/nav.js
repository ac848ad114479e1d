// Navigation inside the console: links that change the URL without a
// reload (each page has its own URL, so it can be linked and reloaded).

import { html } from "./ui.js";

/** Where stream pages live. */
export const STREAM_PAGE = "/console/stream/";

/** Goes to `path` inside the console without reloading. */
export function navigate(path) {
  history.pushState(null, "", path);
  dispatchEvent(new PopStateEvent("popstate"));
}

/** A link that navigates inside the console. */
export function Link({ href, children, ...rest }) {
  const onClick = (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey) return;
    event.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${onClick} ...${rest}>${children}</a>`;
}

/** The console path of stream `name`. */
export function streamPage(name) {
  return STREAM_PAGE + name.split("/").map(encodeURIComponent).join("/");
}
