// Who is looking, and at what: the token's reach (admin or one project) and the admin's scope.
//
// The API enforces tenancy; the dashboard only chooses what to ask for. A project member's
// requests never carry tenant_id (the API scopes them to the key's project). An admin reads
// every project (tenant_id=*) or the one picked in the scope bar, optionally one region
// (a `region` dimension filter wherever the API takes one).

import { get } from "./api.js";

const SCOPE_KEY = "nephoscope.scope";

function stored() {
  try { return JSON.parse(localStorage.getItem(SCOPE_KEY)) || {}; } catch (_) { return {}; }
}

export const session = {
  admin: false,
  me: null,  // GET /v1/whoami: { project, project_name, roles, user, domain, issuer, expires_at, admin, delegate }
  project: stored().project || "",  // admin only: "" = every project
  region: stored().region || "",    // admin only: "" = every region

  /** What the token may do (GET /v1/whoami): admin tokens read across projects. */
  async probe(token) {
    this.me = await get("v1/whoami", {}, { token, quiet: true });
    this.admin = Boolean(this.me.admin);
    if (!this.admin) { this.project = ""; this.region = ""; }
    return this.admin;
  },

  setScope(project, region) {
    this.project = project.trim();
    this.region = region;
    localStorage.setItem(SCOPE_KEY, JSON.stringify({ project: this.project, region: this.region }));
  },

  /** tenant_id for every read (admins only: a project's requests never carry one). */
  tenant() {
    return this.admin ? { tenant_id: this.project || "*" } : {};
  },

  /** "region:RegionOne" for `dimensions` / `metric_dimensions`, or "". */
  regionFilter() {
    return this.admin && this.region ? `region:${this.region}` : "";
  },

  describe() {
    if (!this.admin) return "your project (the token's)";
    const project = this.project ? `project ${this.project}` : "all projects";
    return this.region ? `${project}, region ${this.region}` : project;
  },
};
