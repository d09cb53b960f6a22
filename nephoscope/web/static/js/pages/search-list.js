// A search form over a newest-first list of the API (events, the audit trail): the results, their
// pages ("← Newer" / "Older →" from the answer's next link), the form's Search and Clear.

import { empty, fill, h, loading, pager } from "../dom.js";
import { plural } from "../format.js";

/**
 * Show `path`'s answers for `params()` in `results`, one `row(element)` each, pages in `more`.
 * `params()` may throw (a bad time typed): the message shows in `results`. Returns { first() }.
 */
export function searchList(ctx, { form, results, more, path, params, row, noun, listClass, busy, none, hint }) {
  async function show(offset) {
    fill(results, loading(busy));
    try {
      const answer = await ctx.get(path, { ...params(), ...(offset ? { offset } : {}) });
      const elements = answer.elements;
      results.dataset.count = String(elements.length);
      if (!elements.length) fill(results, empty(none, hint));
      else {
        fill(results, h("p", { class: "muted small", text: `${plural(elements.length, noun)}, newest first` }),
          h("div", { class: listClass }, elements.map(row)));
      }
      ctx.updated();
      return answer;
    } catch (error) {
      ctx.failed(error, results);
      return null;
    }
  }

  const pages = pager(more, show);
  form.addEventListener("submit", (event) => { event.preventDefault(); pages.first(); });
  form.addEventListener("reset", () => setTimeout(() => pages.first()));
  return pages;
}
