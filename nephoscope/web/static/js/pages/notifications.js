// Notification methods: the list, and a form to create one (the server's message shown by its field).
//
// API calls: GET /v2.0/notification-methods (+tenant_id for admins), GET /v2.0/notification-methods/types,
// POST /v2.0/notification-methods (in the token's own project).

import { empty, field, fill, h, loading, table } from "../dom.js";

const ADDRESS_HINTS = {
  WEBHOOK: "An http(s) URL, e.g. a Heat scaling-policy signal URL.",
  EMAIL: "An e-mail address.",
  SLACK: "A Slack or Mattermost incoming-webhook URL.",
  PAGERDUTY: "A PagerDuty integration (routing) key.",
};

export default async function notifications(body, ctx) {
  const box = h("div", { id: "method-list" }, loading("Loading notification methods…"));
  const formBox = h("div", { id: "method-form-box" });
  body.append(h("div", { class: "columns wide-left" }, h("section", { class: "card", aria: { label: "Notification methods" } },
    h("h2", { text: "Notification methods" }), box), formBox));

  async function load() {
    try {
      const found = await ctx.getAll("v2.0/notification-methods", ctx.session.tenant());
      if (!found.elements.length) {
        fill(box, empty("No notification methods yet.", "Create one to have alarms call a webhook, post to chat, page or e-mail."));
        return;
      }
      fill(box, table("Notification methods", [
        { label: "Name", cell: (m) => m.name },
        { label: "Type", cell: (m) => h("span", { class: "kind", text: m.type }) },
        { label: "Address", cell: (m) => h("span", { class: "mono break", text: m.address }) },
        { label: "Repeat", cell: (m) => (m.period ? `every ${m.period} s` : "once per change") },
      ], found.elements, { rowAttrs: (m) => ({ dataset: { method: m.id } }) }));
      ctx.updated();
    } catch (error) { ctx.failed(error, box); }
  }

  const known = await ctx.get("v2.0/notification-methods/types").then((r) => r.elements.map((e) => e.type))
    .catch(() => ["WEBHOOK", "EMAIL", "SLACK", "PAGERDUTY"]);
  const types = [...known.filter((t) => t === "WEBHOOK"), ...known.filter((t) => t !== "WEBHOOK")];  // the usual one first
  const controls = {
    name: h("input", { id: "nm-name", name: "name", maxlength: "250", autocomplete: "off" }),
    type: h("select", { id: "nm-type", name: "type" }, types.map((t) => h("option", { value: t, text: t }))),
    address: h("input", { id: "nm-address", name: "address", autocomplete: "off", spellcheck: "false" }),
    period: h("select", { id: "nm-period", name: "period" }, h("option", { value: "0", text: "once per state change" }),
      h("option", { value: "60", text: "every 60 s while in the state" })),
  };
  const addressField = field("Address", controls.address, { name: "address", hint: ADDRESS_HINTS[controls.type.value] || "" });
  controls.type.addEventListener("change", () => {
    addressField.querySelector(".hint").textContent = ADDRESS_HINTS[controls.type.value] || "";
  });
  const formError = h("div", { id: "nm-error" });
  const notice = h("p", { class: "notice", role: "status", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", id: "nm-submit", text: "Create method" });
  const form = h("form", { class: "card form", id: "method-form", novalidate: true, aria: { label: "New notification method" } },
    h("h2", { text: "New notification method" }),
    field("Name", controls.name, { name: "name" }), field("Type", controls.type, { name: "type" }), addressField,
    field("Repeat", controls.period, { name: "period", hint: "Periodic re-sends suit webhooks that scale (Heat, Senlin)." }),
    formError, notice, h("div", { class: "buttons" }, submit));
  fill(formBox, form);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const message of form.querySelectorAll(".field-error")) { message.hidden = true; message.textContent = ""; }
    for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
    formError.replaceChildren();
    notice.hidden = true;
    submit.disabled = true;
    try {
      const created = await ctx.post("v2.0/notification-methods", {
        name: controls.name.value.trim(), type: controls.type.value, address: controls.address.value.trim(),
        period: Number(controls.period.value) });
      notice.textContent = `Created “${created.name}”.`;
      notice.hidden = false;
      controls.name.value = "";
      controls.address.value = "";
      await load();
    } catch (error) {
      const holder = error.field && form.querySelector(`[data-field="${error.field}"]`);
      if (holder && !error.handled) {
        const message = holder.querySelector(".field-error");
        message.textContent = error.description || error.message;
        message.hidden = false;
        controls[error.field].setAttribute("aria-invalid", "true");
        controls[error.field].focus();
      } else {
        ctx.failed(error, formError);
      }
    } finally {
      submit.disabled = false;
    }
  });
  await load();
}
