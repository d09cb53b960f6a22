// The dashboard's shell: the login (a Keystone user, or a token), the navigation, the admin's scope
// bar and the hash router.
//
// A page is a module exporting { title, render(view, ctx) }; add one by importing it and adding a
// line to PAGES. render() fills `view` and may return nothing: whatever it needs stopped when the
// user leaves (timers, charts) it registers with ctx.every() / ctx.onLeave(). Requests made through
// ctx are cancelled on leaving, so a slow answer never lands on the next page.

import { auth, get, getAll, hooks, patch, post, put, remove } from "./api.js";
import { errorBox, fill, h, refreshTimes } from "./dom.js";
import { naturalSort, utcTime } from "./format.js";
import { session } from "./session.js";
import overview from "./pages/overview.js";
import metrics from "./pages/metrics.js";
import alarms from "./pages/alarms.js";
import events from "./pages/events.js";
import logs from "./pages/logs.js";
import traces from "./pages/traces.js";
import audit from "./pages/audit.js";

const PAGES = [
  { path: "overview", label: "Overview", page: overview },
  { path: "metrics", label: "Metrics", page: metrics },
  { path: "alarms", label: "Alarms", page: alarms },
  { path: "events", label: "Events", page: events },
  { path: "logs", label: "Logs", page: logs },
  { path: "traces", label: "Traces", page: traces },
  { path: "audit", label: "Audit", page: audit },
];

const $ = (id) => document.getElementById(id);
let current = null;  // { ctx } of the page on screen
let keystone = null;  // GET /v1/auth/info's "keystone" when the server takes Keystone users, else null
const LOGIN_KEY = "nephoscope.login";  // the last user name, project and domain (never the password)

// ---------------------------------------------------------------- routing

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const cut = raw.indexOf("?");
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const parts = path.split("/").filter(Boolean).map((part) => {
    try { return decodeURIComponent(part); } catch (_) { return part; }
  });
  return { parts: parts.length ? parts : ["overview"], params: new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1)) };
}

function makeContext(route) {
  const controller = new AbortController();
  const signal = controller.signal;
  const cleanups = [];
  const ctx = {
    route, session, signal,
    get: (path, params, options = {}) => get(path, params, { signal, ...options }),
    getAll: (path, params, options = {}) => getAll(path, params, { signal, ...options }),
    post: (path, body) => post(path, body, { signal }),
    patch: (path, body) => patch(path, body, { signal }),
    put: (path, body) => put(path, body, { signal }),
    remove: (path, options = {}) => remove(path, { signal, ...options }),
    get alive() { return !signal.aborted; },
    /** Run fn every ms while the page is shown and the browser tab visible. */
    every(ms, fn) {
      const id = setInterval(() => { if (!document.hidden && !signal.aborted) fn(); }, ms);
      cleanups.push(() => clearInterval(id));
    },
    onLeave(fn) { cleanups.push(fn); },
    /** Say in the context bar when the figures on screen were read. */
    updated(every) {
      $("updated").textContent = `updated ${utcTime(Date.now())}${every ? ` · refreshes every ${every} s` : ""}`;
    },
    /** Show an error in `box` unless the shell already shows it (token form, lost-server banner). */
    failed(error, box) {
      if (signal.aborted || error.handled) return;
      if (box) fill(box, errorBox(error));
    },
    /** Keep a page's own state (filters, selection) in the address without re-rendering. */
    setParams(params) {
      const path = route.parts.map(encodeURIComponent).join("/");
      const query = new URLSearchParams();
      for (const [key, value] of Object.entries(params)) {
        for (const item of Array.isArray(value) ? value : [value]) {
          if (item !== "" && item !== null && item !== undefined) query.append(key, item);
        }
      }
      history.replaceState(null, "", `#/${path}${query.toString() ? `?${query}` : ""}`);
    },
  };
  ctx.leave = () => { controller.abort(); cleanups.splice(0).forEach((fn) => fn()); };
  return ctx;
}

function route(focus = false) {
  if (!auth.token) return;
  if (current) current.ctx.leave();
  const parsed = parseHash();
  const entry = PAGES.find((p) => p.path === parsed.parts[0]);
  for (const link of $("nav").querySelectorAll("a")) {
    if (entry && link.dataset.path === entry.path) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = $("view");
  view.replaceChildren();
  $("updated").textContent = "";
  const ctx = makeContext(parsed);
  current = { ctx };
  if (!entry) {
    document.title = "Not found · Nephoscope";
    fill(view, h("h1", { text: "Nothing here" }), h("p", {}, "This address names no page. ", h("a", { href: "#/overview", text: "Go to the overview" })));
    return;
  }
  document.title = `${entry.label} · Nephoscope`;
  try {
    const pending = entry.page.render(view, ctx);
    if (pending && pending.catch) pending.catch((error) => ctx.failed(error, view));
  } catch (error) {
    view.append(errorBox(error));
  }
  if (focus) view.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- token form and session

function showLogin(message) {
  if (current) current.ctx.leave();
  current = null;
  $("login").hidden = false;
  $("view").hidden = true;
  $("contextbar").hidden = true;
  $("nav").hidden = true;
  $("token-change").hidden = true;
  $("token-summary").textContent = "";
  $("token-cancel").hidden = !auth.token || Boolean(message);
  // The message goes where the user will act: the Keystone form when there is one.
  const box = keystone ? $("keystone-error") : $("login-error");
  for (const id of ["keystone-error", "login-error"]) $(id).hidden = true;
  box.hidden = !message;
  box.textContent = message || "";
  $("token-input").value = "";
  $("ks-password").value = "";
  if (!keystone) $("token-input").focus();
  else if ($("ks-username").value) $("ks-password").focus();
  else $("ks-username").focus();
}

/** The server takes Keystone users (GET /v1/auth/info): show the Horizon-like form above the token one. */
async function loadLoginKind() {
  try {
    keystone = (await get("v1/auth/info", {}, { token: "", quiet: true })).keystone || null;
  } catch (_) {
    keystone = null;  // an older server, or away: the token form still works
  }
  $("keystone-login").hidden = !keystone;
  $("login-title").hidden = Boolean(keystone);
  $("login").setAttribute("aria-labelledby", keystone ? "keystone-title" : "login-title");
  if (!keystone) return;
  $("token-help").textContent = "A Keystone token (openstack token issue) or an API key, sent as X-Auth-Token.";
  document.querySelector('label[for="token-input"]').textContent = "Token";
  let last = {};
  try { last = JSON.parse(localStorage.getItem(LOGIN_KEY)) || {}; } catch (_) { /* none kept */ }
  $("ks-username").value = last.username || "";
  $("ks-project").value = last.project || "";
  $("ks-domain").value = last.domain || keystone.default_domain || "Default";
}

async function submitKeystone(event) {
  event.preventDefault();
  const body = { username: $("ks-username").value.trim(), password: $("ks-password").value,
    project: $("ks-project").value.trim(), domain: $("ks-domain").value.trim() || "Default" };
  const button = $("ks-submit");
  button.disabled = true;
  button.textContent = "Logging in…";
  try {
    const answer = await post("v1/auth/tokens", body, { token: "", quiet: true });
    localStorage.setItem(LOGIN_KEY, JSON.stringify({ username: body.username, project: body.project, domain: body.domain }));
    $("ks-password").value = "";
    await session.probe(answer.token);
    auth.remember(answer.token);
    await start();
  } catch (error) {
    $("keystone-error").textContent = error.status === 401
      ? "Keystone refused the user name, password or project. Check them (and the domain)."
      : error.message;
    $("keystone-error").hidden = false;
  } finally {
    button.disabled = false;
    button.textContent = "Log in";
  }
}

async function submitToken(event) {
  event.preventDefault();
  const token = $("token-input").value.trim();
  if (!token) return;
  const button = $("token-submit");
  button.disabled = true;
  button.textContent = "Checking…";
  try {
    await get("v2.0/metrics/names", { limit: 1 }, { token, quiet: true });
    await session.probe(token);
    auth.remember(token);
    await start();
  } catch (error) {
    $("login-error").textContent = error.message;
    $("login-error").hidden = false;
  } finally {
    button.disabled = false;
    button.textContent = "Connect";
  }
}

async function start() {
  $("login").hidden = true;
  $("view").hidden = false;
  $("contextbar").hidden = false;
  $("nav").hidden = false;
  $("token-change").hidden = false;
  const me = session.me || {};
  $("token-summary").textContent = me.user
    ? `${me.user} · ${me.project_name || me.project}${session.admin ? " (admin)" : ""}`
    : `${session.admin ? "admin" : "project"} token ••••${auth.token.slice(-4)}`;
  renderScope();
  route();
}

// ---------------------------------------------------------------- the scope bar (admins)

function renderScope() {
  const box = $("scope");
  if (!session.admin) {
    fill(box, h("span", { class: "scope-note" }, "Showing ", h("strong", { text: "your project" }),
      h("span", { class: "muted", text: " (the project of this token; the server enforces it)" })));
    return;
  }
  const project = h("input", { id: "scope-project", list: "scope-projects", placeholder: "all projects", autocomplete: "off", spellcheck: "false", value: session.project });
  const projects = h("datalist", { id: "scope-projects" });
  const region = h("select", { id: "scope-region" }, h("option", { value: "", text: "all regions" }));
  const form = h("form", { class: "scope-form", aria: { label: "Scope" }, on: { submit: (event) => {
    event.preventDefault();
    session.setScope(project.value, region.value);
    route();
  } } },
  h("span", { class: "scope-title", text: "Scope" }),
  h("label", { for: "scope-project", text: "Project" }), project, projects,
  h("label", { for: "scope-region", text: "Region" }), region,
  h("button", { type: "submit", text: "Apply" }));
  region.addEventListener("change", () => form.requestSubmit());
  fill(box, form);
  loadScopeChoices(projects, region);
}

/** Known projects (API keys, tenant_id dimensions) and regions, to pick from; quietly nothing on error. */
async function loadScopeChoices(projects, region) {
  const values = (name) => getAll("v2.0/metrics/dimensions/names/values", { dimension_name: name, tenant_id: "*" }, { maxPages: 5 })
    .then((r) => r.elements.map((e) => e.dimension_value)).catch(() => []);
  const [keys, tenants, regions] = await Promise.all([
    get("v1/keys", {}, { quiet: true }).then((r) => r.elements.map((k) => k.project)).catch(() => []),
    values("tenant_id"), values("region")]);
  const names = [...new Set(["admin", ...keys, ...tenants])].sort(naturalSort);
  projects.replaceChildren(...names.map((name) => h("option", { value: name })));
  const choices = [...new Set([...regions, session.region].filter(Boolean))].sort(naturalSort);
  region.append(...choices.map((name) => h("option", { value: name, text: name })));
  region.value = session.region;
}

// ---------------------------------------------------------------- start-up

function init() {
  $("nav").replaceChildren(...PAGES.map((p) => h("a", { href: `#/${p.path}`, dataset: { path: p.path }, class: p.soon ? "soon" : null },
    p.label, p.soon ? h("span", { class: "tag", text: "soon" }) : null)));
  $("login-form").addEventListener("submit", submitToken);
  $("keystone-form").addEventListener("submit", submitKeystone);
  $("token-change").addEventListener("click", () => showLogin());
  $("token-cancel").addEventListener("click", () => start());
  $("skip").addEventListener("click", () => $("view").focus());
  hooks.refused = (error) => { auth.forget(); showLogin(error.message); };
  hooks.offline = (error) => {
    $("banner").textContent = `${error.message} The dashboard keeps trying.`;
    $("banner").hidden = false;
  };
  hooks.online = () => { $("banner").hidden = true; };
  window.addEventListener("hashchange", () => route(true));
  setInterval(() => refreshTimes(), 15_000);
  loadLoginKind().then(() => {
    if (!auth.token) showLogin();
    else resume();
  });
}

/** A stored token: ask what it may do, then show the page (or the form, if it stopped working). */
function resume() {
  session.probe(auth.token).then(start, (error) => {
    if (error.tokenRefused) {
      auth.forget();
      showLogin(error.message);
    } else {
      hooks.offline(error);  // the server is away (or failing): try again shortly
      setTimeout(resume, 5000);
    }
  });
}

init();
