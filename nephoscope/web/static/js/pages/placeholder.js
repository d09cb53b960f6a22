// A section that is on its way: says what it will show and what it waits for.

import { h } from "../dom.js";

export function placeholder(title, what) {
  return {
    title,
    render(view) {
      view.append(
        h("h1", { text: title }),
        h("section", { class: "card placeholder", aria: { label: `${title} (coming)` } },
          h("p", { class: "placeholder-title", text: "Coming with the logs API" }),
          h("p", { class: "muted", text: `${what} will appear here once the server's logs API is available.` })));
    },
  };
}
