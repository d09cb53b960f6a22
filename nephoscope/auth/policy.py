"""What a principal may do: oslo.policy rules (defaults in ``auth.rules``, an operator's file over them).

``Policy.enforce(rule, principal)`` raises ``Denied`` naming the rule; ``effective_tenant`` and
``read_scope`` decide which project a request acts on (``tenant_id`` needs ``api:delegate``,
``tenant_id=*`` needs ``api:tenants:all``). The operator's file (``[auth] policy_file``, YAML or
JSON, oslo.policy's format) is looked at once a second at most and re-read when it changes; a
file that does not parse is refused at start and, later, logged and ignored (the rules in force
stay). Decisions are memoized per loaded rule set: oslo.policy is slow (it inspects every check's
signature), and a rule's answer depends only on the rule set, the credentials and the target.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from oslo_config import cfg
from oslo_policy import generator, policy

from nephoscope.auth import rules
from nephoscope.config import SecuritySettings
from nephoscope.tenancy import ALL_TENANTS, Principal

log = logging.getLogger(__name__)

_LOOK_EVERY = 1.0  # seconds between looks at the operator's file


class Denied(Exception):
    """A request the policy refuses: ``rule`` names the rule, ``reason`` says it in words, ``principal``
    is who asked (None when no token was given)."""

    def __init__(self, rule: str, reason: str, principal: Principal | None = None) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason
        self.principal = principal


class PolicyFileError(ValueError):
    """The operator's policy file cannot be used; the message says which file and why."""


def _credentials(principal: Principal | None) -> dict:
    if principal is None:
        return {"roles": []}
    return {"roles": sorted(principal.roles), "project_id": principal.project, "tenant_id": principal.project,
            "user_id": principal.user_id, "domain_id": principal.domain}


class _RuleSet:
    """One loaded rule set (the defaults, the file over them) and its memoized decisions."""

    def __init__(self, security: SecuritySettings, policy_file: Path | None) -> None:
        conf = cfg.ConfigOpts()
        conf([], project="nephoscope", default_config_files=[], default_config_dirs=[])
        # No file: a path that cannot exist, so oslo.policy never goes looking in /etc on its own.
        path = str(policy_file) if policy_file else "/nonexistent/nephoscope-policy.yaml"
        self.enforcer = policy.Enforcer(conf, policy_file=path, use_conf=True)
        conf.set_override("policy_dirs", [], "oslo_policy")
        self.enforcer.register_defaults(rules.default_rules(security))
        self.enforcer.load_rules()
        self.enforcer.use_conf = False  # loaded once; the Policy swaps in a new set when the file changes
        self.allows = functools.lru_cache(maxsize=65_536)(self._allows)

    def _allows(self, rule: str, principal: Principal | None, target_project: str) -> bool:
        target = {"project_id": target_project, "tenant_id": target_project}
        return bool(self.enforcer.enforce(rule, target, _credentials(principal)))


def _check_file(path: Path) -> None:
    try:
        text = path.read_text()
    except OSError as error:
        raise PolicyFileError(f"policy file {path}: {error.strerror or error}") from None
    try:
        document = policy.parse_file_contents(text)
    except ValueError as error:
        raise PolicyFileError(f"policy file {path}: {' '.join(str(error).split())}") from None
    for name, check in document.items():
        if not isinstance(check, str):
            raise PolicyFileError(f"policy file {path}: rule {name!r} must be a string, not {type(check).__name__}")


class Policy:
    """The rules in force for this server; thread-safe."""

    def __init__(self, security: SecuritySettings, policy_file: str = "") -> None:
        self.security = security
        self.file = Path(policy_file).expanduser().resolve() if policy_file else None
        self._lock = threading.Lock()
        self._next_look = time.monotonic() + _LOOK_EVERY
        self._stamp = self._file_stamp()
        if self.file:
            _check_file(self.file)
        self._rules = _RuleSet(security, self.file)
        self._warn_unknown()
        self.reload_observers: list[Callable[[bool, str], None]] = []
        """Told of every reload of the operator's file: (applied, why not); the audit trail listens."""

    # ------------------------------------------------------------------ the rule set in force

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.file.stat() if self.file else None
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size) if stat else None

    def _current(self) -> _RuleSet:
        if self.file is None or time.monotonic() < self._next_look:
            return self._rules
        with self._lock:
            if time.monotonic() < self._next_look:
                return self._rules
            self._next_look = time.monotonic() + _LOOK_EVERY
            stamp = self._file_stamp()
            if stamp != self._stamp:
                self._stamp = stamp
                self.reload()
        return self._rules

    def reload(self) -> bool:
        """Read the operator's file again; a file that does not parse is logged and the rules in force stay."""
        try:
            if self.file:
                _check_file(self.file)
            loaded = _RuleSet(self.security, self.file)
        except (PolicyFileError, ValueError) as error:
            log.error("%s; the policy in force is unchanged", error)
            self._tell(False, str(error))
            return False
        self._rules = loaded
        log.info("policy reloaded from %s", self.file)
        self._warn_unknown()
        self._tell(True, "")
        return True

    def _tell(self, applied: bool, reason: str) -> None:
        for observer in self.reload_observers:
            try:
                observer(applied, reason)
            except Exception:  # an observer's failure (the audit disk) never keeps the new rules out
                log.exception("a policy reload observer failed")

    def _warn_unknown(self) -> None:
        enforcer = self._rules.enforcer
        unknown = sorted(set(enforcer.file_rules) - set(enforcer.registered_rules))
        if unknown:
            log.warning("policy file %s names rules this server does not have: %s", self.file, ", ".join(unknown))

    # ------------------------------------------------------------------ decisions

    def allows(self, rule: str, principal: Principal | None, target_project: str | None = None) -> bool:
        target = target_project if target_project is not None else (principal.project if principal else "")
        return self._current().allows(rule, principal, target)

    def enforce(self, rule: str, principal: Principal | None, target_project: str | None = None) -> None:
        if not self.allows(rule, principal, target_project):
            raise Denied(rule, self.explain(rule, principal), principal)

    def explain(self, rule: str, principal: Principal | None) -> str:
        """Why ``rule`` refuses: the rule's name and the roles that would do."""
        if principal is None:
            return f"policy rule {rule} needs a token"
        would = self.roles_allowed(rule)
        needs = f"; it allows the roles {', '.join(would)}" if would else ""
        has = ", ".join(sorted(principal.roles)) or "no role"
        return f"policy rule {rule} does not allow this token (roles: {has}){needs}"

    def roles_allowed(self, rule: str) -> list[str]:
        """Which of the roles named in ``[security]`` would each, alone, satisfy ``rule`` in the
        token's own project."""
        known = self.security.all_roles()
        return [role for role in known if self.allows(rule, Principal("_", frozenset({role})), "_")]

    def is_admin(self, principal: Principal) -> bool:
        return self.allows("admin_required", principal)

    def may_delegate(self, principal: Principal) -> bool:
        return self.allows(rules.DELEGATE, principal)

    def may_read_all(self, principal: Principal) -> bool:
        return self.allows(rules.ALL_TENANTS, principal)

    def effective_tenant(self, principal: Principal, tenant_id: str | None) -> str:
        """The project a request acts on: its own, or ``tenant_id`` with the delegate rule."""
        if not tenant_id or tenant_id == principal.project:
            return principal.project
        if tenant_id == ALL_TENANTS:
            raise Denied(rules.ALL_TENANTS, "tenant_id=* means every project and is only for reading", principal)
        self.enforce(rules.DELEGATE, principal, tenant_id)
        return tenant_id

    def read_scope(self, principal: Principal, tenant_id: str | None) -> str:
        """The tenant scope of a Monasca read. Admins without tenant_id still read their own project,
        as Monasca does; ``tenant_id=*`` reads every project (``api:tenants:all``)."""
        if tenant_id == ALL_TENANTS:
            self.enforce(rules.ALL_TENANTS, principal, ALL_TENANTS)
            return ALL_TENANTS
        return self.effective_tenant(principal, tenant_id)

    def native_read_scope(self, principal: Principal, tenant_id: str | None) -> str:
        """The tenant scope of a native ``/v1`` read: a principal that may read every project
        (``api:tenants:all``) and gives no ``tenant_id`` reads the whole cloud (an operator asking for
        error lines, failures or a trace means the cloud's, not the admin project's); ``tenant_id``
        narrows it to one project. Everyone else as :meth:`read_scope`."""
        if not tenant_id and self.may_read_all(principal):
            return ALL_TENANTS
        return self.read_scope(principal, tenant_id)

    def query_scope(self, principal: Principal) -> str:
        """The scope of the Prometheus-style reads, as Aetos does it: every project with
        ``telemetry:query:all_projects`` (admins and the services' own users: Aodh, Watcher), else the
        token's project."""
        return ALL_TENANTS if self.allows(rules.QUERY_ALL_PROJECTS, principal) else principal.project

    # ------------------------------------------------------------------ documentation

    def rule_names(self) -> list[str]:
        return list(self._rules.enforcer.registered_rules)


def sample(security: SecuritySettings) -> str:
    """The documented defaults as an oslo.policy YAML file in which every rule is commented out
    (uncomment and change what you want to override), as ``oslopolicy-sample-generator`` writes."""
    head = ("# Nephoscope's policy: every rule with its default, commented out. Uncomment and change a\n"
            "# rule to override it; point [auth] policy_file at this file. The server re-reads it when it\n"
            "# changes. The base rules are built from [security]'s role lists.\n\n")
    return head + "".join(generator._format_rule_default_yaml(default) for default in rules.default_rules(security))


def check_policy_file(path: str) -> None:
    """Raise ``PolicyFileError`` when the operator's file cannot be used (checked before serving)."""
    _check_file(Path(path).expanduser().resolve())
