"""A log-classification evaluation corpus written by oslo.log from the services' own format strings.

Loghub's OpenStack_2k is 2,000 nova lines of 43 templates: too small and too narrow to show that
the template miner and the rules generalize. This script builds a second corpus with its ground
truth from what the services really log:

1. **Sources** - the PyPI sdists of nova, cinder, neutron, keystone, glance and oslo.messaging,
   oslo.service, oslo.concurrency, oslo.db, at pinned versions (``SDISTS``), fetched once with
   ``pip download --no-deps --no-binary :all:`` into a cache directory (``--cache``, default
   ``$NEPHOSCOPE_SDIST_CACHE`` or ``~/.cache/nephoscope/sdists``).
2. **Format strings** - every ``LOG.<level>(<format string>, <args>)`` call of their non-test
   modules, read with :mod:`ast`: the format string (a literal, a literal wrapped in ``_()``, or
   a module/class constant), the level (``exception`` is ERROR with a traceback), the logger
   (the module: ``LOG = logging.getLogger(__name__)``), each placeholder's conversion and the
   name or expression that fills it, and whether the call names an instance. Kept: single-line
   format strings with at least two constant words and placeholders that render.
3. **Lines** - rendered by oslo.log itself (``ContextFormatter`` with its default
   ``logging_context_format_string`` / ``logging_default_format_string`` and DEBUG suffix), with
   an oslo.context ``RequestContext`` (request id, global request id for most requests, user and
   project) or none (``[-]``, as periodic tasks), ``[instance: <uuid>]`` when the call names an
   instance, and a real traceback for ``LOG.exception``. Arguments get values of the kind their
   conversion and name say: numbers for ``%d``/``%f`` and counts, UUIDs for ids, host names,
   addresses, paths, URLs, and **words** (drawn per line from real vocabularies: scheduler
   filter names, periodic tasks and methods, states, drivers, lock names, ...) for filter,
   method, task, state, driver, ... arguments. Free text (exception messages, reasons) and
   arguments whose kind the name does not say get one value per format string: no parser can
   tell a sentence argument from a template's own words without the format string. keystone's
   CADF notifications are rendered as keystone writes them with ``[oslo_messaging_notifications]
   driver = log``: oslo.messaging's ``LogDriver`` logging the notification (a pycadf event).
4. **Ground truth** - a line's *template* is its format string with every placeholder as
   ``<*>`` (two format strings that differ only in placeholder names render alike and are one
   template; an argument given one value per format string is the template's text there; CADF lines are one template, the JSON dump of a notification, whose event type,
   action and outcome are its arguments). Its *class* follows these
   rules, first match wins:

   * **audit** - CADF events, and keystone's authentication/authorization refusals (WARNING or
     INFO lines of keystone whose format string speaks of authentication or authorization);
   * **error** (a true error) - ERROR and CRITICAL lines (``LOG.exception`` included), and
     WARNING lines whose template (the format string, with the text given once per format
     string) says an operation failed (``FAILURE_WORDS``: failed,
     unable, could not, cannot, timed out, no valid host, refused, unreachable, exceeded, error);
   * **noise** - periodic-task and lock chatter: the loggers of oslo.service's periodic tasks and
     looping calls and oslo.concurrency's locks, and DEBUG/INFO lines about periodic tasks;
   * **telemetry** - a measurement: access lines (``status: %s len: %s``) and timings (a
     placeholder followed by a time unit, or "took"/"elapsed"/"duration");
   * **noise** - any other DEBUG line;
   * **info** - the rest.

Lines per format string follow a heavy-tailed draw (at least ``--min-lines``), interleaved per
service. Seeded and deterministic: the same seed and sdists give the same files. Written to
``--out``: ``<service>.log`` per service and ``truth.csv`` (one row per *record*, in file order:
service, record, lines, template, category, level, logger). Usage::

    .venv/bin/python bench/log_corpus.py --out var/oslo-corpus             # the whole corpus
    .venv/bin/python bench/log_corpus.py --out var/oslo-slice --templates 400  # a smaller slice
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import json
import logging
import os
import random
import re
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

SDISTS: tuple[tuple[str, str], ...] = (
    ("nova", "34.0.0"), ("cinder", "29.0.0"), ("neutron", "29.0.0"), ("keystone", "30.0.0"),
    ("glance", "33.0.0"), ("oslo.messaging", "18.3.1"), ("oslo.service", "4.8.0"),
    ("oslo.concurrency", "7.6.1"), ("oslo.db", "18.1.1"),
)
"""The sdists read, pinned: the corpus is a function of these files and the seed."""
SERVICES = ("nova", "cinder", "neutron", "keystone", "glance")
EXTRACT_VERSION = 3  # bump when extraction changes: the cached extraction is then redone

_LEVELS = {"debug": "DEBUG", "info": "INFO", "warning": "WARNING", "warn": "WARNING", "error": "ERROR",
           "exception": "ERROR", "critical": "CRITICAL"}
_LOGGER_NAMES = {"LOG", "LOGGER", "logger", "log", "_LOG"}
_I18N = {"_", "_LE", "_LW", "_LI", "_LC"}
PLACEHOLDER = re.compile(r"%(?:\((?P<key>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<conv>[diouxXeEfFgGcrsa%])")
FAILURE_WORDS = re.compile(
    r"(?i)\b(?:fail(?:s|ed|ure|ing)?|unable|could ?n[o']t|cannot|can't|timed? ?out|no valid host|"
    r"refused|unreachable|exceeded|errors?)\b")
_AUTH_WORDS = re.compile(r"(?i)authori[sz]|authenticat")
_TIMING = re.compile(r"(?i)%[^%\s]*[dfgeis]\s*(?:s|sec|secs|seconds?|ms|msecs?|milliseconds?)\b|\btook\b|\belapsed\b|\bduration\b")
_ACCESS = re.compile(r"status: %")
_PERIODIC_LOGGERS = ("oslo_service.periodic_task", "oslo_service.loopingcall", "oslo_service.backend",
                     "oslo_concurrency.lockutils")
_WORD_TOKEN = re.compile(r"[A-Za-z][A-Za-z'-]+")


# ------------------------------------------------------------------------------ sdists
def default_cache() -> Path:
    return Path(os.environ.get("NEPHOSCOPE_SDIST_CACHE") or Path.home() / ".cache" / "nephoscope" / "sdists")


def sdist_name(name: str, version: str) -> str:
    """The file name pip saves an sdist under (PEP 625: the project name normalized with ``_``)."""
    return f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}.tar.gz"


def fetch(cache: Path) -> list[Path]:
    """The pinned sdists in ``cache``, downloaded with pip when missing (RuntimeError if pip cannot)."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, version in SDISTS:
        path = cache / sdist_name(name, version)
        if not path.exists():
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                       "-d", str(cache), f"{name}=={version}"]
            done = subprocess.run(command, check=False, capture_output=True, text=True)
            if not path.exists():
                raise RuntimeError(f"cannot download {name}=={version} into {cache}: {done.stderr.strip()[-500:]}")
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------ extraction
@dataclass
class Call:
    """One ``LOG.<level>(...)`` call as the source writes it."""

    package: str  # the sdist's project (nova, oslo.messaging, ...)
    logger: str  # the module (LOG = logging.getLogger(__name__))
    level: str
    fmt: str
    traceback: bool  # LOG.exception
    instance: bool  # called with instance= / instance_uuid=
    hints: list[str] = field(default_factory=list)  # per placeholder: its key and the expression filling it
    named: bool = False  # %(key)s placeholders (a dict argument)
    literal: bool = False  # no arguments: the format string is logged as it is
    function: str = ""  # the function the call is in (oslo.log's DEBUG suffix names it)
    line: int = 0


def _string(node: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _I18N and node.args:
        return _string(node.args[0], constants)
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
        return constants.get(node.attr)
    return None


def _constants(tree: ast.AST) -> dict[str, str]:
    """String constants assigned at module or class level (``_log_format = '...'``)."""
    found: dict[str, str] = {}
    bodies = [tree.body] + [node.body for node in tree.body if isinstance(node, ast.ClassDef)]  # type: ignore[attr-defined]
    for body in bodies:
        for node in body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = node.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found[node.targets[0].id] = value.value
    return found


def _source(node: ast.AST) -> str:
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):  # acl['action']: the key says it
        return str(node.slice.value)
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001 - a hint only
        return ""


def calls_in(source: str, package: str, logger: str) -> Iterator[Call]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    constants = _constants(tree)
    enclosing: dict[ast.AST, str] = {}
    for function in ast.walk(tree):  # breadth first: inner functions come later and win
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(function):
                enclosing[inner] = function.name
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in _LEVELS and isinstance(node.func.value, ast.Name)
                and node.func.value.id in _LOGGER_NAMES and node.args):
            continue
        fmt = _string(node.args[0], constants)
        if fmt is None:
            continue
        keywords = {k.arg for k in node.keywords}
        call = Call(package, logger, _LEVELS[node.func.attr], fmt, node.func.attr == "exception",
                    bool(keywords & {"instance", "instance_uuid"}), function=enclosing.get(node, "<module>"),
                    line=node.lineno)
        rest = node.args[1:]
        if not rest:
            call.literal = True
            yield call
            continue
        placeholders = [m for m in PLACEHOLDER.finditer(fmt) if m.group("conv") != "%"]
        if len(rest) == 1 and isinstance(rest[0], ast.Dict) and placeholders and placeholders[0].group("key") is not None:
            values = {k.value: v for k, v in zip(rest[0].keys, rest[0].values)
                      if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            call.named = True
            call.hints = [f"{m.group('key')} {_source(values[m.group('key')]) if m.group('key') in values else ''}"
                          for m in placeholders]
        elif placeholders and placeholders[0].group("key") is not None:
            call.named = True  # a dict built elsewhere: the keys say what the values are
            call.hints = [m.group("key") or "" for m in placeholders]
        else:
            expressions = list(rest[0].elts) if len(rest) == 1 and isinstance(rest[0], ast.Tuple) else rest
            if len(expressions) != len(placeholders):
                continue
            call.hints = [_source(e) for e in expressions]
        yield call


def extract(paths: list[Path]) -> list[Call]:
    """Every LOG call of the sdists' non-test modules."""
    calls: list[Call] = []
    for path in paths:
        package = re.sub(r"-[\d.]+\.tar\.gz$", "", path.name).replace("_", ".")
        with tarfile.open(path) as archive:
            for member in archive.getmembers():
                name = member.name.split("/", 1)[-1] if "/" in member.name else member.name
                if (not member.isfile() or not name.endswith(".py") or "/tests/" in f"/{name}"
                        or "/hacking/" in name or name.startswith(("doc/", "releasenotes/", "tools/", "api-ref/"))):
                    continue
                module = name[:-3].replace("/", ".").removesuffix(".__init__")
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                calls.extend(calls_in(handle.read().decode("utf-8", "replace"), package, module))
    return calls


def load_calls(cache: Path) -> list[Call]:
    """The extraction, cached beside the sdists."""
    stored = cache / f"calls-v{EXTRACT_VERSION}.json"
    if stored.exists():
        return [Call(**c) for c in json.loads(stored.read_text())]
    calls = extract(fetch(cache))
    stored.write_text(json.dumps([asdict(c) for c in calls]))
    return calls


# ------------------------------------------------------------------------------ argument values
WORDS: dict[str, tuple[str, ...]] = {
    "filter": ("ComputeFilter", "AvailabilityZoneFilter", "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter",
               "ServerGroupAffinityFilter", "PciPassthroughFilter", "NUMATopologyFilter", "ComputeCapabilitiesFilter",
               "AggregateInstanceExtraSpecsFilter", "SameHostFilter", "DifferentHostFilter", "IsolatedHostsFilter",
               "CapacityFilter", "CapabilitiesFilter", "JsonFilter"),
    "method": ("build_and_run_instance", "terminate_instance", "reboot_instance", "attach_volume", "detach_volume",
               "live_migration", "resize_instance", "rebuild_instance", "snapshot_instance", "shelve_instance",
               "update_available_resource", "heal_instance_info_cache", "sync_power_states", "create_volume",
               "delete_volume", "extend_volume", "migrate_volume", "retype", "create_snapshot", "initialize_connection",
               "terminate_connection", "sync_routers", "port_update", "network_delete"),
    "state": ("active", "building", "paused", "suspended", "stopped", "rescued", "resized", "shelved", "error",
              "deleted", "available", "in-use", "creating", "deleting", "attaching", "detaching", "reserved",
              "maintenance", "migrating", "spawning", "rebooting", "queued", "saving", "killed", "pending"),
    "driver": ("LibvirtDriver", "IronicDriver", "LVMVolumeDriver", "RBDDriver", "NfsDriver", "ISCSIDriver",
               "OpenvswitchMechanismDriver", "LinuxbridgeMechanismDriver", "OVNMechanismDriver", "FileStore",
               "RBDStore", "SwiftStore", "HttpStore", "DHCPAgentNotifyAPI", "RouterPluginNotifier"),
    "type": ("qcow2", "raw", "vmdk", "vhd", "iso", "iscsi", "rbd", "nfs", "fibre_channel", "vxlan", "vlan", "flat",
             "geneve", "gre", "bare", "ovf", "ami"),
    "topic": ("nova-compute", "nova-conductor", "nova-scheduler", "cinder-volume", "cinder-backup",
              "cinder-scheduler", "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent",
              "neutron-openvswitch-agent", "glance-api", "keystone"),
    "lock": ("compute_resources", "iptables", "connect_volume", "image_cache", "volume_attach", "resource_tracker",
             "dnsmasq", "metadata_proxy", "singleton_lock", "instance_lock", "host_instance_lock", "refresh_cache"),
    "event": ("network-vif-plugged", "network-vif-unplugged", "network-vif-deleted", "network-changed",
              "volume-extended", "power-update", "volume-reimaged", "accelerator-request-bound"),
    "name": ("vcpus", "memory_mb", "local_gb", "availability_zone", "os_distro", "disk_format", "container_format",
             "hw_machine_type", "security_groups", "key_name", "block_device_mapping", "network_info", "root_gb",
             "ephemeral_gb", "swap", "host_routes", "dns_nameservers", "allowed_address_pairs", "binding_profile"),
}
_WORD_HINTS = (("filter", "filter"), ("method", "method|func|function|task|operation|\\bop\\b|action|call"),
               ("state", "state|status"), ("driver", "driver|plugin|\\bcls\\b|class|handler|extension|store|backend"),
               ("type", "type|kind|mode|format|protocol|fmt"), ("topic", "topic|binary|service|exchange|transport"),
               ("lock", "lock"), ("event", "event"), ("name", "name|key|attr|resource|policy|rule|target|field|option|opt"))
_KINDS = (
    ("text", (r"\b(?:e|ex|exc|err|error|exception|exc_info|reason|msg|message|details?|traceback|stderr|stdout|"
             r"output|explanation|fault|resp|response|body|result|six\.text_type|str)\b|_(?:error|msg|exc|ex)\b|"
             r"encodeutils|format_exc|\bdict\(")),
    ("url", r"url|uri|endpoint|href|\blink"),
    ("uuid", (r"uuid|_id\b|\bids?\b|\binstance\b|instance\.|volume|\bport\b|port_id|image|server|snapshot|project|"
             r"tenant|\buser\b|user_id|network|subnet|router|backup|attachment|request_id|migration|allocation|"
             r"consumer|provider|\brp\b|flavor|segment|trunk|\bfip\b|floatingip")),
    ("ip", r"\bip\b|ip_address|address|addr|cidr|gateway"),
    ("mac", r"\bmac"),
    ("path", r"path|file|\bdir\b|directory|location|mountpoint|mount|\bdev\b|device"),
    ("host", r"host|\bnode|hypervisor|\bcompute\b|\bagent\b"),
    ("number", (r"status_(?:int|code)|http|count|\bnum|size|\blen\b|total|free|used|limit|\bmax|\bmin|retries|retry|attempt|interval|timeout|"
               r"seconds|\btime\b|elapsed|duration|delay|\bpid\b|\bgb\b|\bmb\b|bytes|\bram\b|disk|vcpu|memory|"
               r"percent|ratio|index|\bidx\b|\bcode\b|tries|\bsec\b|period|version|capacity")),
)
_FREE_TEXT = (
    "Connection to the hypervisor is broken on host", "Timed out waiting for a reply to message ID",
    "Unable to establish connection to http://controller:9696/v2.0/ports", "Volume backend is not ready",
    "Unexpected error while running command. Exit code: 1", "Could not find resource in the database",
    "Quota exceeded for resources: ['instances']", "Requested operation is not valid: domain is not running",
    "The server has either erred or is incapable of performing the requested operation",
    "Connection reset by peer", "Lock wait timeout exceeded; try restarting transaction",
    "Image is not active yet", "Invalid input received: size must be a positive integer",
)
_GENERIC = ("default", "compute", "scheduler", "instance", "volume", "router", "network", "image", "token",
            "allocation", "inventory", "binding", "aggregate", "quota", "service")


def kind_of(hint: str, conversion: str) -> str:
    if conversion in "diouxX":
        return "int"
    if conversion in "eEfFg":
        return "float"
    text = hint.lower()
    for kind, pattern in _KINDS:
        if re.search(pattern, text):
            return kind
    for pool, pattern in _WORD_HINTS:
        if re.search(pattern, text):
            return "word:" + pool
    return "fixed"


class Values:
    """Argument values of each kind, from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def host(self) -> str:
        rng = self.rng
        prefix = rng.choice(("compute", "cmp", "ctl", "network", "storage"))
        return f"{prefix}-{rng.randrange(1, 400):03d}" + rng.choice(("", ".dc1.example.net", ".cloud.local"))

    def value(self, kind: str, conversion: str, fixed: str) -> object:
        rng = self.rng
        if kind == "int":
            return rng.choice((rng.randrange(0, 10), rng.randrange(0, 1000), rng.randrange(0, 1 << 20)))
        if kind == "float":
            return rng.uniform(0, 300)
        if kind == "uuid":
            return self.uuid()
        if kind == "host":
            return self.host()
        if kind == "ip":
            return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if kind == "mac":
            return "fa:16:3e:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
        if kind == "path":
            return rng.choice(("/var/lib/nova/instances/", "/dev/disk/by-path/", "/var/lib/glance/images/",
                               "/var/lib/cinder/mnt/", "/etc/neutron/")) + self.uuid()
        if kind == "url":
            return f"http://{self.host()}:{rng.choice((8774, 8776, 9292, 9696, 5000))}/v2/{self.uuid()}"
        if kind == "number":
            return rng.choice((rng.randrange(0, 64), rng.randrange(0, 100_000)))
        if kind.startswith("word:"):
            return rng.choice(WORDS[kind[5:]])
        return fixed  # free text and unknown kinds: one value per format string


# ------------------------------------------------------------------------------ ground truth
def template_of(fmt: str, literal: bool, constants: dict[int, str] | None = None) -> str:
    """The ground-truth template: the format string with every placeholder as ``<*>``, except
    those that get one value per format string (``constants``, by placeholder number): that value
    is written into every line, so it is the template's text."""
    if literal:
        return fmt
    constants = constants or {}
    number = -1

    def placeholder(match: re.Match) -> str:
        nonlocal number
        if match.group("conv") == "%":
            return "%"
        number += 1
        return constants.get(number, "<*>")

    return PLACEHOLDER.sub(placeholder, fmt)


def category_of(call: Call, service: str, text: str) -> str:
    """The class of a line from this call whose template is ``text``, by the rules in the module docstring."""
    if service == "keystone" and call.level in ("WARNING", "INFO") and _AUTH_WORDS.search(text):
        return "audit"
    if call.level in ("ERROR", "CRITICAL") or call.traceback:
        return "error"
    if call.level == "WARNING" and FAILURE_WORDS.search(text):
        return "error"
    if call.logger.startswith(_PERIODIC_LOGGERS) or (call.level in ("DEBUG", "INFO") and "periodic task" in text.lower()):
        return "noise"
    if _ACCESS.search(call.fmt) or _TIMING.search(call.fmt):
        return "telemetry"
    if call.level == "DEBUG":
        return "noise"
    return "info"


# ------------------------------------------------------------------------------ selection
@dataclass
class Spec:
    """A format string as the corpus renders it."""

    call: Call
    service: str
    template: str
    kinds: list[str]
    fixed: list[str]
    category: str


def usable(call: Call) -> bool:
    if "\n" in call.fmt or "\r" in call.fmt or "\t" in call.fmt:
        return False
    constant = PLACEHOLDER.sub(" ", call.fmt)
    return len(_WORD_TOKEN.findall(constant)) >= 2


def specs(calls: list[Call], rng: random.Random) -> list[Spec]:
    """One spec per distinct (service, logger, level, format string), in a stable order."""
    seen: set[tuple] = set()
    result = []
    for call in sorted(calls, key=lambda c: (c.package, c.logger, c.level, c.fmt, c.traceback)):
        if not usable(call):
            continue
        service = call.package if call.package in SERVICES else None
        key = (call.package, call.logger, call.level, call.fmt)
        if key in seen:
            continue
        seen.add(key)
        conversions = [m.group("conv") for m in PLACEHOLDER.finditer(call.fmt) if m.group("conv") != "%"]
        if call.literal:
            conversions = []
        kinds = [kind_of(h, c) for h, c in zip(call.hints, conversions)]
        digest = int(hashlib.sha256(call.fmt.encode()).hexdigest(), 16)
        fixed = [(_FREE_TEXT if kind == "text" else _GENERIC)[(digest >> (8 * i)) % (len(_FREE_TEXT) if kind == "text" else len(_GENERIC))]
                 for i, kind in enumerate(kinds)]
        constants = {n: value for n, (kind, value) in enumerate(zip(kinds, fixed)) if kind in ("text", "fixed")}
        result.append(Spec(call, service or "", template_of(call.fmt, call.literal, constants), kinds, fixed, ""))
    # oslo libraries log inside every service: give each library's format strings to services in turn
    for number, spec in enumerate(s for s in result if not s.service):
        spec.service = SERVICES[number % len(SERVICES)]
    for spec in result:
        spec.category = category_of(spec.call, spec.service, spec.template)
    return result


# ------------------------------------------------------------------------------ rendering
class _Raised(Exception):
    pass


_EXCEPTIONS = {name: type(name, (_Raised,), {"__module__": module}) for name, module in (
    ("MessagingTimeout", "oslo_messaging.exceptions"), ("DBConnectionError", "oslo_db.exception"),
    ("ProcessExecutionError", "oslo_concurrency.processutils"), ("VolumeNotFound", "cinder.exception"),
    ("NoValidHost", "nova.exception"), ("PortBindingFailed", "nova.exception"),
    ("ImageNotFound", "glance.common.exception"), ("ConnectFailure", "keystoneauth1.exceptions.connection"),
    ("InstanceNotFound", "nova.exception"), ("BackendException", "cinder.exception"))}
# Tracebacks name this file; the corpus names the logger's module instead, so it is the same wherever it is made.
_THIS_FILE = re.compile(r'File "[^"]*log_corpus\.py"')


def _exc_info(rng: random.Random) -> tuple:
    name = rng.choice(sorted(_EXCEPTIONS))

    def deeper(depth: int) -> None:
        if depth == 0:
            raise _EXCEPTIONS[name](rng.choice(_FREE_TEXT))
        deeper(depth - 1)

    try:
        deeper(rng.randrange(1, 3))
    except _Raised:
        return sys.exc_info()
    raise AssertionError("unreachable")


class Renderer:
    """oslo.log's ContextFormatter with its default options, at a deterministic clock."""

    def __init__(self, seed: int) -> None:
        from oslo_config import cfg
        from oslo_log import formatters
        from oslo_log import log as oslo_logging

        conf = cfg.ConfigOpts()
        oslo_logging.register_options(conf)
        conf([], project="nephoscope-corpus")
        self.formatters = {service: formatters.ContextFormatter(project=service, version="corpus", config=conf,
                                                                datefmt=conf.log_date_format)
                           for service in SERVICES}
        for formatter in self.formatters.values():
            formatter.converter = __import__("time").gmtime
        self.rng = random.Random(seed)
        self.values = Values(self.rng)
        self.clock = 1_772_438_400.0  # 2026-03-02 08:00:00 UTC
        self.pids = {service: self.rng.randrange(1000, 60000) for service in SERVICES}

    def context(self):
        from oslo_context import context as oslo_context

        rng = self.rng
        return oslo_context.RequestContext(
            request_id="req-" + self.values.uuid(), overwrite=False,
            global_request_id=("req-" + self.values.uuid()) if rng.random() < 0.6 else None,
            user_id=f"{rng.getrandbits(128):032x}", project_id=f"{rng.getrandbits(128):032x}",
            user_domain_id="default", project_domain_id="default")

    def record(self, service: str, logger: str, level: str, message: str, args: object,
               with_context: bool, instance: str | None, exc_info: tuple | None,
               function: str = "notify", line: int = 52) -> str:
        self.clock += self.rng.uniform(0, 0.05)
        record = logging.LogRecord(logger, getattr(logging, level), f"/usr/lib/python3/dist-packages/{logger.replace('.', '/')}.py",
                                   line, message, args, exc_info, func=function)
        record.created = self.clock
        record.msecs = (self.clock % 1) * 1000
        record.process = self.pids[service]
        record.context = self.context() if with_context else None
        if instance:
            record.instance_uuid = instance
        text = self.formatters[service].format(record)
        if exc_info is not None:
            text = _THIS_FILE.sub(f'File "{record.pathname}"', text)
        return text

    def line(self, spec: Spec) -> str:
        call = spec.call
        values = [self.values.value(kind, "", fixed) for kind, fixed in zip(spec.kinds, spec.fixed)]
        if call.literal:
            args: object = None
        elif call.named:
            keys = [m.group("key") for m in PLACEHOLDER.finditer(call.fmt) if m.group("conv") != "%"]
            args = dict(zip(keys, values))
        else:
            args = tuple(values)
        periodic = call.logger.startswith(_PERIODIC_LOGGERS)
        with_context = self.rng.random() < (0.3 if periodic else 0.85)
        instance = self.values.uuid() if call.instance else None
        exc_info = _exc_info(self.rng) if call.traceback else None
        return self.record(spec.service, call.logger, call.level, call.fmt, args or None, with_context, instance, exc_info,
                           call.function, call.line)

    def cadf(self, outcome: str, event_type: str) -> str:
        """keystone's CADF notification as oslo.messaging's log driver writes it."""
        from oslo_messaging.notify import _impl_log
        from pycadf import cadftaxonomy, cadftype, credential, event, host, resource

        initiator = resource.Resource(typeURI=cadftaxonomy.ACCOUNT_USER, id=f"{self.rng.getrandbits(128):032x}")
        initiator.host = host.Host(address=self.values.value("ip", "", ""), agent="python-openstackclient")
        initiator.credential = credential.Credential(token="***")
        target = resource.Resource(typeURI=cadftaxonomy.ACCOUNT_USER, id=f"{self.rng.getrandbits(128):032x}")
        observer = resource.Resource(typeURI="service/security", id=f"{self.rng.getrandbits(128):032x}")
        action = event_type.rsplit(".", 1)[-1]
        cadf_event = event.Event(eventType=cadftype.EVENTTYPE_ACTIVITY, outcome=outcome, action=action,
                                 initiator=initiator, target=target, observer=observer,
                                 id=self.values.uuid(), eventTime="2026-03-02T08:00:00.000000+0000")
        message = {"message_id": self.values.uuid(), "publisher_id": f"identity.{self.values.host()}",
                   "event_type": event_type, "priority": "INFO", "payload": cadf_event.as_dict(),
                   "timestamp": "2026-03-02 08:00:00.000000"}
        captured: list[str] = []
        renderer = self

        class Capture(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                captured.append(renderer.record("keystone", record.name, record.levelname, record.msg, None,
                                                True, None, None))

        base = logging.getLogger(_impl_log.LogDriver.LOGGER_BASE)
        handler, propagate, level = Capture(), base.propagate, base.level
        base.addHandler(handler)
        base.propagate = False
        base.setLevel(logging.DEBUG)
        try:
            _impl_log.LogDriver(None, [], None).notify({}, message, "INFO", None)
        finally:
            base.removeHandler(handler)
            base.propagate, base.level = propagate, level
        return captured[0]


CADF_EVENTS = (("identity.authenticate", "success"), ("identity.authenticate", "failure"),
               ("identity.user.created", "success"), ("identity.project.created", "success"),
               ("identity.role_assignment.created", "success"), ("identity.user.deleted", "success"))


def lines_per_template(rng: random.Random, minimum: int) -> int:
    """Heavy-tailed, as real logs: most format strings rare, a few very frequent."""
    return min(minimum + int(minimum * (rng.paretovariate(1.3) - 1)), 40 * minimum)


def generate(out: Path, cache: Path, seed: int = 18, templates: int = 0, min_lines: int = 10) -> dict:
    """Write the corpus and its truth to ``out``; returns a summary. ``templates`` > 0 keeps that
    many format strings (a deterministic sample), 0 all."""
    rng = random.Random(seed)
    chosen = specs(load_calls(cache), rng)
    if templates:
        chosen = sorted(rng.sample(chosen, min(templates, len(chosen))),
                        key=lambda s: (s.service, s.call.logger, s.call.level, s.call.fmt))
    renderer = Renderer(seed)
    plan: dict[str, list[tuple]] = {service: [] for service in SERVICES}
    for spec in chosen:
        plan[spec.service] += [("log", spec)] * lines_per_template(rng, min_lines)
    for event_type, outcome in CADF_EVENTS:
        plan["keystone"] += [("cadf", (event_type, outcome))] * lines_per_template(rng, min_lines)
    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    skipped: set[str] = set()
    with open(out / "truth.csv", "w", newline="", encoding="utf-8") as truth_file:
        truth = csv.writer(truth_file)
        truth.writerow(["service", "record", "lines", "template", "category", "level", "logger"])
        for service in SERVICES:
            items = plan[service]
            rng.shuffle(items)
            number = 0
            with open(out / f"{service}.log", "w", encoding="utf-8") as log_file:
                for what, item in items:
                    if what == "cadf":
                        event_type, outcome = item
                        text = renderer.cadf(outcome, event_type)
                        template, category, level, logger = ("CADF event", "audit", "INFO",
                                                             f"oslo.messaging.notification.{event_type}")
                    else:
                        spec = item
                        if spec.call.fmt in skipped:
                            continue
                        try:
                            text = renderer.line(spec)
                        except (TypeError, ValueError, KeyError):  # placeholders that do not render alike
                            skipped.add(spec.call.fmt)
                            continue
                        template, category, level, logger = spec.template, spec.category, spec.call.level, spec.call.logger
                    log_file.write(text + "\n")
                    truth.writerow([service, number, text.count("\n") + 1, template, category, level, logger])
                    number += 1
                    rows += 1
    summary = {"records": rows, "format_strings": len(chosen) - len(skipped), "seed": seed,
               "sdists": [f"{n}=={v}" for n, v in SDISTS]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


@dataclass
class Corpus:
    """A generated corpus read back: per service its lines, and one truth row per record."""

    lines: dict[str, list[str]]
    truth: list[dict[str, str]]


def read(out: Path) -> Corpus:
    lines = {service: (out / f"{service}.log").read_text(encoding="utf-8").splitlines() for service in SERVICES}
    with open(out / "truth.csv", newline="", encoding="utf-8") as handle:
        truth = list(csv.DictReader(handle))
    return Corpus(lines, truth)


def ensure(out: Path, cache: Path | None = None, seed: int = 18, templates: int = 0, min_lines: int = 10) -> Corpus:
    """The corpus in ``out``, generated first unless it is there with the same parameters."""
    wanted = {"seed": seed, "templates": templates, "min_lines": min_lines,
              "generator": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}
    stamp = out / "parameters.json"
    if not (stamp.exists() and json.loads(stamp.read_text()) == wanted):
        generate(out, cache or default_cache(), seed, templates, min_lines)
        stamp.write_text(json.dumps(wanted))
    return read(out)


# ------------------------------------------------------------------------------ evaluation
@dataclass(frozen=True)
class Scores:
    """How the pipeline does on a corpus: grouping (GA/FGA), true errors (precision/recall), and
    the share of records whose category is the truth's (all five categories)."""

    grouping: object  # nephoscope.logs.processing.evaluation.GroupingAccuracy
    errors: object  # nephoscope.logs.processing.evaluation.Detection
    categories: float
    records: int
    lines: int
    seconds: float


def evaluate(corpus: Corpus, pipeline: object | None = None) -> Scores:
    """One pass of a fresh (or the given) pipeline over the corpus, service by service, as one
    thread; template ids are read as the miner finally knows them (``canonical``: a template
    merged later is the one it merged into), as Loghub's evaluation reads a parser's final groups."""
    import time

    from nephoscope.logs.processing.evaluation import detection, grouping_accuracy
    from nephoscope.logs.processing.pipeline import LogPipeline
    from nephoscope.logs.processing.sources import Source

    pipeline = pipeline or LogPipeline()
    ids: list[str] = []
    categories: list[str] = []
    started = time.perf_counter()
    for service in SERVICES:
        table = pipeline.process(corpus.lines[service], Source(service=service))
        expected = sum(1 for row in corpus.truth if row["service"] == service)
        if table.num_rows != expected:
            raise ValueError(f"{service}: {expected} records in the truth, {table.num_rows} from the pipeline")
        ids += table.column("template_id").to_pylist()
        categories += table.column("category").to_pylist()
    seconds = time.perf_counter() - started
    ids = [pipeline.miner.canonical(identifier) for identifier in ids]
    truth_templates = [row["template"] for row in corpus.truth]
    truth_categories = [row["category"] for row in corpus.truth]
    same = sum(1 for a, b in zip(truth_categories, categories) if a == b)
    return Scores(grouping_accuracy(truth_templates, ids), detection(truth_categories, categories),
                  same / len(categories) if categories else 0.0, len(ids),
                  sum(len(lines) for lines in corpus.lines.values()), seconds)


_OSLO_HEADER = re.compile(r"^(\S+) (\S+) (\S+) (\S+) (\S+) \[(.*?)\] (.*)$")


def record_contents(corpus: Corpus) -> list[str]:
    """The first line's content (after Loghub's OpenStack header: date, time, pid, level, logger,
    ``[context]``) of every record, in truth order: what a line-by-line parser such as Drain gets."""
    contents: list[str] = []
    for service in SERVICES:
        lines = iter(corpus.lines[service])
        for row in (r for r in corpus.truth if r["service"] == service):
            first = next(lines)
            for _ in range(int(row["lines"]) - 1):
                next(lines)
            match = _OSLO_HEADER.match(first)
            contents.append(match.group(7) if match else first)
    return contents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="directory the corpus is written to")
    parser.add_argument("--cache", type=Path, default=default_cache(), help="where the sdists are kept")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--templates", type=int, default=0, help="format strings kept (0: all)")
    parser.add_argument("--min-lines", type=int, default=10, help="the fewest lines of one format string")
    args = parser.parse_args(argv)
    corpus = ensure(args.out, args.cache, args.seed, args.templates, args.min_lines)
    print(json.dumps({"records": len(corpus.truth), "lines": sum(map(len, corpus.lines.values())),
                      "templates": len({row["template"] for row in corpus.truth})}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
