// The API of the server that serves the dashboard, with the user's token (X-Auth-Token).
//
// Paths are relative to the dashboard ("../v2.0/..."), so a path prefix in a proxy still works.
// Every failure becomes an ApiError carrying the server's own words; `hooks` let the shell react
// to a refused token (back to the token form) or a lost server (one banner) wherever it happens.

const TOKEN_KEY = "nephoscope.token";
const MAX_PAGES = 50;

export const auth = {
  token: localStorage.getItem(TOKEN_KEY) || "",
  remember(token) {
    this.token = token;
    localStorage.setItem(TOKEN_KEY, token);
  },
  forget() {
    this.token = "";
    localStorage.removeItem(TOKEN_KEY);
  },
};

/** Set by the shell: refused(error) on a refused token, offline(error) / online() on the connection. */
export const hooks = { refused: () => {}, offline: () => {}, online: () => {} };

export class ApiError extends Error {
  constructor(status, body, message) {
    super(message);
    this.status = status;
    this.title = (body && body.title) || "";
    this.description = (body && body.description) || "";
    this.field = (body && body.field) || null;
    this.reason = (body && body.reason) || "";  // 401: missing, invalid, expired, revoked
    this.rule = (body && body.rule) || "";  // 403: the policy rule that refused
  }

  /** A valid token without the role: 403 naming the policy rule (older servers: 401 "Forbidden"). */
  get forbidden() { return this.status === 403 || (this.status === 401 && this.title === "Forbidden"); }
  get tokenRefused() { return this.status === 401 && !this.forbidden; }
  get offline() { return this.status === 0; }
  /** Errors the shell already shows (token form, banner) or that no longer matter (navigated away). */
  get handled() { return this.tokenRefused || this.offline || this.status === -1; }
}

/** Plain words for an error answer (Monasca's body is {"title", "description"}). */
export function explain(status, body) {
  const detail = (body && (body.description || body.title)) || "";
  if (status === 0) return "Cannot reach the server. Is it still running?";
  if (status === 401 && body && body.title === "Forbidden") return `Not allowed with this token: ${detail}.`;
  if (status === 401 && body && body.reason === "expired") return "Your token has expired: log in again.";
  if (status === 401 && body && body.reason === "revoked") return "Token refused: it was revoked. Log in again or enter another one.";
  if (status === 401) return "Token refused: the server does not know this token (mistyped, or revoked). Enter another one.";
  if (status === 403) return `Not allowed with this token: ${detail}.`;
  if (status === 404) return `Not found: ${detail}.`;
  if (status === 409) return `Conflict: ${detail}`;
  if (status === 400 || status === 422) return detail || `The server refused the request (${status}).`;
  if (status === 429 || status === 503) return `The server is busy (${status}); try again in a moment.`;
  if (status >= 500) return `The server failed to answer (${status}): ${detail}`;
  return `Unexpected answer ${status}: ${detail}`;
}

export function apiUrl(path, params = {}) {
  const url = new URL(`../${path}`, document.baseURI);
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((item) => url.searchParams.append(key, item));
    else url.searchParams.set(key, value);
  }
  return url;
}

/** One request. `params` become the query string; `body` is sent as JSON; `signal` aborts it. */
export async function request(method, path, { params = {}, body, token = auth.token, signal, quiet = false } = {}) {
  const headers = { "X-Auth-Token": token, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(apiUrl(path, params), {
      method, headers, signal, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (signal && signal.aborted) throw new ApiError(-1, null, "cancelled");
    const offline = new ApiError(0, null, explain(0));
    if (!quiet) hooks.offline(offline);
    throw offline;
  }
  if (!quiet) hooks.online();
  if (!response.ok) {
    let answer = null;
    try { answer = await response.json(); } catch (_) { /* not JSON */ }
    const error = new ApiError(response.status, answer, explain(response.status, answer));
    if (error.tokenRefused && !quiet) hooks.refused(error);
    throw error;
  }
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, params, options = {}) => request("GET", path, { ...options, params });
export const post = (path, body, options = {}) => request("POST", path, { ...options, body });
export const patch = (path, body, options = {}) => request("PATCH", path, { ...options, body });
export const put = (path, body, options = {}) => request("PUT", path, { ...options, body });
export const remove = (path, options = {}) => request("DELETE", path, options);

/** The offset of a Monasca list's rel=next link, or null. */
export function nextOffset(answer) {
  const next = ((answer && answer.links) || []).find((link) => link.rel === "next");
  return next ? new URL(next.href, document.baseURI).searchParams.get("offset") : null;
}

/**
 * Every page of a Monasca list, following rel=next offsets. Statistics or measurements of one
 * series split over pages are joined by id. Returns { elements, truncated }.
 */
export async function getAll(path, params = {}, { signal, maxPages = MAX_PAGES } = {}) {
  const elements = [];
  const byId = new Map();
  let offset = null;
  for (let page = 0; page < maxPages; page++) {
    const answer = await get(path, offset ? { ...params, offset } : params, { signal });
    for (const element of answer.elements || []) {
      const rows = element.statistics || element.measurements;
      const previous = element.id !== undefined && rows ? byId.get(element.id) : undefined;
      if (previous) {
        (previous.statistics || previous.measurements).push(...rows);
      } else {
        elements.push(element);
        if (element.id !== undefined && rows) byId.set(element.id, element);
      }
    }
    offset = nextOffset(answer);
    if (!offset) return { elements, truncated: false };
  }
  return { elements, truncated: true };
}
