// Who is looking, and at what: the token's reach (admin or one project) and the admin's scope.
//
// The API enforces tenancy; the dashboard only chooses what to ask for. A project member's
// requests never carry tenant_id (the API scopes them to the key's project). An admin reads
// every project (tenant_id=*) or the one picked in the scope bar, optionally one region
// (a `region` dimension filter wherever the API takes one).

import { ApiError, get } from "./api.js";

const SCOPE_KEY = "nephoscope.scope";

function stored() {
  try { return JSON.parse(localStorage.getItem(SCOPE_KEY)) || {}; } catch (_) { return {}; }
}

export const session = {
  admin: false,
  project: stored().project || "",  // admin only: "" = every project
  region: stored().region || "",    // admin only: "" = every region

  /** Whether the token may read across projects: the one question the API answers without a "whoami". */
  async probe(token) {
    try {
      await get("v2.0/metrics/names", { tenant_id: "*", limit: 1 }, { token, quiet: true });
      this.admin = true;
    } catch (error) {
      if (!(error instanceof ApiError) || !error.forbidden) throw error;
      this.admin = false;
    }
    if (!this.admin) { this.project = ""; this.region = ""; }
    return this.admin;
  },

  setScope(project, region) {
    this.project = project.trim();
    this.region = region;
    localStorage.setItem(SCOPE_KEY, JSON.stringify({ project: this.project, region: this.region }));
  },

  /** tenant_id for the Monasca API and /v1/events (admins only). */
  tenant() {
    return this.admin ? { tenant_id: this.project || "*" } : {};
  },

  /** /v1/failures names it `project`. */
  failuresProject() {
    return this.admin ? { project: this.project || "*" } : {};
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
