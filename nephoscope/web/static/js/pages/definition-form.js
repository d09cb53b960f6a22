// Create or edit an alarm definition. The server validates (the expression grammar included) and
// its message is shown next to the field it names, with a caret under the column of a bad
// expression ("… at column 19: expected a threshold …").
//
// API calls: GET /v2.0/alarm-definitions/{id} (edit), GET /v2.0/notification-methods (the actions
// to pick from: the token's own project, where definitions are written), then
// POST /v2.0/alarm-definitions or PATCH /v2.0/alarm-definitions/{id}; DELETE to remove one.

import { errorBox, field, fill, h, loading } from "../dom.js";

const SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];
const FIELDS = ["name", "description", "expression", "severity", "match_by", "alarm_actions", "ok_actions",
  "undetermined_actions", "actions_enabled"];
const ACTIONS = [["alarm_actions", "When it goes to ALARM"], ["ok_actions", "When it goes back to OK"],
  ["undetermined_actions", "When data stops"]];

/** The field a server error is about: its `field`, the grammar's title, or the field it starts with. */
export function fieldOf(error) {
  if (error.field && FIELDS.includes(error.field)) return error.field;
  if (/expression/i.test(error.title) || /subexpression|expression/i.test(error.description)) return "expression";
  const first = (error.description || "").split(/[\s:]/)[0];
  return FIELDS.includes(first) ? first : null;
}

export default async function definitionForm(body, ctx, id) {
  const creating = id === "new";
  const box = h("div", { id: "definition-form-box" }, loading());
  body.append(h("p", {}, h("a", { href: "#/alarms/definitions", text: "← All definitions" })), box);
  let current = null;
  let methods = [];
  try {
    [current, methods] = await Promise.all([
      creating ? null : ctx.get(`v2.0/alarm-definitions/${encodeURIComponent(id)}`, ctx.session.tenant()),
      ctx.getAll("v2.0/notification-methods").then((r) => r.elements).catch(() => []),
    ]);
  } catch (error) {
    ctx.failed(error, box);
    return;
  }
  const d = current || { name: "", description: "", expression: "", severity: "LOW", match_by: [], alarm_actions: [],
    ok_actions: [], undetermined_actions: [], actions_enabled: true };

  const controls = {
    name: h("input", { id: "def-name", name: "name", maxlength: "255", value: d.name, autocomplete: "off" }),
    description: h("input", { id: "def-description", name: "description", maxlength: "255", value: d.description || "" }),
    expression: h("textarea", { id: "def-expression", name: "expression", rows: "3", spellcheck: "false", class: "mono" }),
    severity: h("select", { id: "def-severity", name: "severity" }, SEVERITIES.map((s) => h("option", { value: s, text: s }))),
    match_by: h("input", { id: "def-match-by", name: "match_by", value: d.match_by.join(", "), disabled: !creating, autocomplete: "off" }),
    actions_enabled: h("input", { type: "checkbox", id: "def-actions-enabled", name: "actions_enabled" }),
  };
  controls.expression.value = d.expression;
  controls.severity.value = d.severity;
  controls.actions_enabled.checked = d.actions_enabled;
  const caret = h("pre", { class: "caret", id: "expression-caret", hidden: true, "aria-hidden": "true" });

  const actionGroups = ACTIONS.map(([key, label]) => h("fieldset", { class: "actions field", dataset: { field: key } },
    h("legend", { text: label }),
    methods.length ? methods.map((m) => h("label", { class: "check" },
      h("input", { type: "checkbox", name: key, value: m.id, checked: d[key].includes(m.id) }),
      h("span", { text: m.name }), h("span", { class: "muted", text: ` ${m.type}` })))
      : h("p", { class: "muted small" }, "No notification methods in this project. ", h("a", { href: "#/alarms/notifications", text: "Create one" }), "."),
    h("p", { class: "field-error", role: "alert", hidden: true })));

  const formError = h("div", { id: "form-error" });
  const submit = h("button", { type: "submit", class: "primary", id: "def-submit", text: creating ? "Create definition" : "Save changes" });
  const form = h("form", { class: "card form", id: "definition-form", novalidate: true, aria: { label: creating ? "New alarm definition" : "Edit alarm definition" } },
    h("h2", { text: creating ? "New alarm definition" : `Edit “${d.name}”` }),
    field("Name", controls.name, { name: "name" }),
    field("Description", controls.description, { name: "description", hint: "Optional: what it means and what to do." }),
    field("Expression", controls.expression, { name: "expression",
      hint: "Monasca grammar, e.g. avg(cpu.utilization_perc{service=compute}, 60) > 90 times 3 — function(metric{dimensions}, period) operator threshold [times periods]." }),
    caret,
    h("div", { class: "field-row" },
      field("Severity", controls.severity, { name: "severity" }),
      field("Match by", controls.match_by, { name: "match_by",
        hint: creating ? "Dimension names, comma-separated: one alarm per distinct value (e.g. hostname)." : "Cannot change once created." })),
    h("div", { class: "actions-row" }, actionGroups),
    h("label", { class: "check", for: "def-actions-enabled" }, controls.actions_enabled, " Send notifications (actions enabled)"),
    formError,
    h("div", { class: "buttons" }, submit, h("a", { href: "#/alarms/definitions", class: "button", text: "Cancel" }),
      creating ? null : deleteButton(ctx, id, d.name, formError)));
  fill(box, form);
  controls.name.focus();

  const clearErrors = () => {
    for (const message of form.querySelectorAll(".field-error")) { message.hidden = true; message.textContent = ""; }
    for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
    caret.hidden = true;
    formError.replaceChildren();
  };

  function showError(error) {
    const name = fieldOf(error);
    const holder = name && form.querySelector(`[data-field="${name}"]`);
    if (!holder || error.handled) {
      ctx.failed(error, formError);
      return;
    }
    const message = holder.querySelector(".field-error");
    message.textContent = error.description || error.message;
    message.hidden = false;
    const control = controls[name];
    if (control) {
      control.setAttribute("aria-invalid", "true");
      control.focus();
    }
    const column = /at column (\d+)/.exec(error.description || "");
    if (name === "expression" && column) {
      const text = controls.expression.value;
      caret.textContent = `${text}\n${" ".repeat(Math.max(0, Number(column[1]) - 1))}^`;
      caret.hidden = false;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const checked = (key) => [...form.querySelectorAll(`input[name="${key}"]:checked`)].map((input) => input.value);
    const fields = {
      name: controls.name.value.trim(), description: controls.description.value, expression: controls.expression.value.trim(),
      severity: controls.severity.value, actions_enabled: controls.actions_enabled.checked,
      alarm_actions: checked("alarm_actions"), ok_actions: checked("ok_actions"), undetermined_actions: checked("undetermined_actions"),
    };
    if (creating) fields.match_by = controls.match_by.value.split(",").map((s) => s.trim()).filter(Boolean);
    submit.disabled = true;
    submit.textContent = "Saving…";
    try {
      const saved = creating ? await ctx.post("v2.0/alarm-definitions", fields)
        : await ctx.patch(`v2.0/alarm-definitions/${encodeURIComponent(id)}`, fields);
      location.hash = `#/alarms/definitions?saved=${encodeURIComponent(saved.name)}`;
    } catch (error) {
      showError(error);
    } finally {
      submit.disabled = false;
      submit.textContent = creating ? "Create definition" : "Save changes";
    }
  });
}

/** Delete in two steps: the first click asks, the second deletes. */
function deleteButton(ctx, id, name, errorSlot) {
  const button = h("button", { type: "button", class: "danger", id: "def-delete", text: "Delete…" });
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = `Really delete “${name}” and its alarms?`;
      return;
    }
    button.disabled = true;
    try {
      await ctx.remove(`v2.0/alarm-definitions/${encodeURIComponent(id)}`);
      location.hash = "#/alarms/definitions";
    } catch (error) {
      button.disabled = false;
      fill(errorSlot, errorBox(error));
    }
  });
  return button;
}
