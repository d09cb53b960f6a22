"""A real OpenStack Keystone for the tests: SQLite, Fernet tokens, served on loopback.

``Keystone.create(home)`` bootstraps one (``keystone-manage db_sync``, ``fernet_setup``,
``credential_setup``, ``bootstrap``) with the Keystone 30 of ``.venv-keystone`` (installed by
``tests/services.py``) and serves it; ``serve()`` starts more WSGI servers over the same
database and keys (a token issued by one validates on all), optionally with other settings —
a server whose tokens expire within seconds, or one the test stops and starts again to play
an outage. Everything else goes through Keystone's own API with keystoneauth: projects,
users, role assignments, the service user Nephoscope validates tokens with, token issue and
revocation, and the catalog (``monitoring`` → ``…/v2.0``, ``logs`` → ``…/v3.0``, ``metric-storage`` →
the server's root, under which python-observabilityclient and Aetos's clients add ``/api/v1/…``).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.conftest import free_port, missing, stop_process, wait_until_serving
from tests.services import keystone_python

HERE = Path(__file__).resolve().parent
ADMIN_PASSWORD = "keystone-admin-secret"
SERVICE_USER, SERVICE_PASSWORD, SERVICE_PROJECT = "nephoscope", "nephoscope-service-secret", "service"
USER_PASSWORD = "user-secret"
MONASCA_ROLES = ("monasca-user", "monasca-read-only-user", "monasca-agent", "monasca-delegate")

_BASE_CONFIG = """[DEFAULT]
[database]
connection = sqlite:///{home}/keystone.db
[token]
provider = fernet
expiration = {expiration}
[fernet_tokens]
key_repository = {home}/fernet-keys
[fernet_receipts]
key_repository = {home}/fernet-receipts
[credential]
key_repository = {home}/credential-keys
[identity]
# bcrypt's cost: tokens issue in milliseconds instead of half a second (test users only)
password_hash_rounds = 4
"""


@dataclass
class KeystoneServer:
    """One WSGI server process over the shared Keystone state."""

    home: Path
    config_files: list[Path]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3"

    def start(self, timeout: float = 90) -> KeystoneServer:
        env = {**os.environ, "OS_KEYSTONE_CONFIG_FILES": ";".join(str(f) for f in self.config_files),
               "PYTHONWARNINGS": "ignore"}
        log = open(self.home / f"keystone-{self.port}.log", "ab")
        self.process = subprocess.Popen([str(keystone_python()), "-P", str(HERE / "keystone_wsgi.py"), str(self.port)],
                                        env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until_serving(self.process, self.url, timeout, "keystone", self.log)
        return self

    def log(self) -> str:
        path = self.home / f"keystone-{self.port}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        stop_process(self.process)


@dataclass
class User:
    name: str
    project: str  # the project's name
    project_id: str
    roles: tuple[str, ...]
    password: str = USER_PASSWORD
    domain: str = "Default"


class Keystone:
    """The session's Keystone: its state directory, its servers, and its admin API."""

    def __init__(self, home: Path, main: KeystoneServer) -> None:
        self.home = home
        self.main = main
        self.servers: list[KeystoneServer] = [main]
        self.admin = ks_session.Session(auth=v3.Password(
            auth_url=main.url, username="admin", password=ADMIN_PASSWORD, project_name="admin",
            user_domain_name="Default", project_domain_name="Default"))
        self._projects: dict[str, str] = {}
        self._roles: dict[str, str] = {}
        self._users: dict[tuple[str, str], User] = {}
        self._services: dict[str, str] = {}
        self._tokens: dict[tuple[str, str, bool], str] = {}

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def create(cls, home: Path) -> Keystone:
        python = keystone_python()
        if not python.exists():
            missing(f"no Keystone in {python.parent.parent}", "run python tests/services.py (make services)")
        for folder in ("fernet-keys", "fernet-receipts", "credential-keys"):
            (home / folder).mkdir(parents=True, exist_ok=True)
        base = home / "keystone.conf"
        base.write_text(_BASE_CONFIG.format(home=home, expiration=3600))
        main = KeystoneServer(home, [base])
        done = subprocess.run([str(python), "-P", str(HERE / "keystone_setup.py"), str(base), main.url, ADMIN_PASSWORD],
                              capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if done.returncode != 0:
            raise RuntimeError(f"keystone bootstrap failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        keystone = cls(home, main.start())
        keystone._setup()
        return keystone

    def serve(self, expiration: int | None = None, port: int | None = None) -> KeystoneServer:
        """Another server over the same state; ``expiration``: seconds its tokens last."""
        files = [self.home / "keystone.conf"]
        if expiration is not None:
            override = self.home / f"expiration-{expiration}.conf"
            override.write_text(f"[token]\nexpiration = {expiration}\n")
            files.append(override)
        server = KeystoneServer(self.home, files, **({"port": port} if port else {}))
        self.servers.append(server)
        return server.start()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    # ------------------------------------------------------------------ the admin API

    def _api(self, method: str, path: str, **kwargs) -> dict:
        response = self.admin.request(self.main.url + path, method, raise_exc=False, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"keystone {method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else {}

    def _setup(self) -> None:
        for role in self._api("GET", "/roles")["roles"]:
            self._roles[role["name"]] = role["id"]
        for role in MONASCA_ROLES:
            self.role(role)
        self.user(SERVICE_USER, SERVICE_PROJECT, "service", password=SERVICE_PASSWORD)
        for service_type, name in (("monitoring", "monasca"), ("logs", "monasca-log-api"),
                                   ("metric-storage", "nephoscope-prometheus")):
            created = self._api("POST", "/services", json={"service": {"type": service_type, "name": name}})
            self._services[service_type] = created["service"]["id"]

    def role(self, name: str) -> str:
        if name not in self._roles:
            self._roles[name] = self._api("POST", "/roles", json={"role": {"name": name}})["role"]["id"]
        return self._roles[name]

    def project(self, name: str) -> str:
        if name not in self._projects:
            found = self._api("GET", "/projects", params={"name": name})["projects"]
            self._projects[name] = found[0]["id"] if found else self._api(
                "POST", "/projects", json={"project": {"name": name, "domain_id": "default"}})["project"]["id"]
        return self._projects[name]

    def user(self, name: str, project: str, *roles: str, password: str = USER_PASSWORD) -> User:
        """A user of the Default domain with ``roles`` on ``project`` (both created when new)."""
        key = (name, project)
        if key in self._users:
            return self._users[key]
        project_id = self.project(project)
        user_id = self._api("POST", "/users", json={"user": {
            "name": name, "password": password, "domain_id": "default", "default_project_id": project_id}})["user"]["id"]
        for role in roles:
            self._api("PUT", f"/projects/{project_id}/users/{user_id}/roles/{self.role(role)}")
        self._users[key] = User(name, project, project_id, tuple(roles), password)
        return self._users[key]

    def token(self, user: User, server: KeystoneServer | None = None, project_scoped: bool = True,
              fresh: bool = False) -> str:
        """A token for ``user`` (scoped to its project unless told otherwise): the one issued before by
        the main server, or a new one (``fresh``, or issued by another ``server``)."""
        key = (user.name, user.project, project_scoped)
        if not fresh and server is None and key in self._tokens:
            return self._tokens[key]
        # Without a scope Keystone would scope to the user's default project: ask for none explicitly.
        scope = {"project_name": user.project, "project_domain_name": user.domain} if project_scoped else {
            "unscoped": True}
        auth = v3.Password(auth_url=(server or self.main).url, username=user.name, password=user.password,
                           user_domain_name=user.domain, **scope)
        token = ks_session.Session(auth=auth).get_token()
        if server is None and not fresh:
            self._tokens[key] = token
        return token

    def revoke(self, token: str) -> None:
        response = self.admin.delete(self.main.url + "/auth/tokens", headers={"X-Subject-Token": token},
                                     raise_exc=False)
        assert response.status_code == 204, response.text

    def register_catalog(self, server_url: str, region: str) -> None:
        """Nephoscope's endpoints in ``region``: ``monitoring`` at /v2.0, ``logs`` at /v3.0 and
        ``metric-storage`` at the root, as an operator registers them (docs/keystone.md)."""
        self._api("POST", "/regions", json={"region": {"id": region}})
        for service_type, path in (("monitoring", "/v2.0"), ("logs", "/v3.0"), ("metric-storage", "")):
            for interface in ("public", "internal"):
                self._api("POST", "/endpoints", json={"endpoint": {
                    "service_id": self._services[service_type], "interface": interface, "region_id": region,
                    "url": server_url + path}})

    # ------------------------------------------------------------------ the server under test

    def server_env(self, server: KeystoneServer | None = None, cache_time: int = 300, **extra: str) -> dict[str, str]:
        """The environment that points a Nephoscope server at this Keystone."""
        url = (server or self.main).url
        return {"NEPHOSCOPE_AUTH_STRATEGY": "keystone",
                "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_AUTH_URL": url,
                "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_WWW_AUTHENTICATE_URI": self.main.url,
                "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_USERNAME": SERVICE_USER,
                "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_PASSWORD": SERVICE_PASSWORD,
                "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_PROJECT_NAME": SERVICE_PROJECT,
                "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_TOKEN_CACHE_TIME": str(cache_time),
                "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_HTTP_CONNECT_TIMEOUT": "3",
                **extra}
