"""The architecture is enforced, not hoped for: who may import whom (docs/architecture.md).

Read from the source with ``ast`` (nothing is imported): every ``import`` and ``from ...
import`` of ``nephoscope`` modules, at any depth of a module (a function-local import is
still a dependency), except under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nephoscope"

DOMAINS = ("metrics", "alarms", "notify", "events", "logs", "auth", "audit")
"""The domains: each owns its data and logic and may use the others' public surface."""

OUTER = ("api", "web", "server", "cli", "demo")
"""What sits on the domains: the HTTP surface, the dashboard, the wiring, the command line, the demo."""

AGENT_MAY_IMPORT = ("agent", "formats", "config", "retry")
"""The edge agent runs on every hypervisor without the server: only its own code and shared formats."""

STORE = "nephoscope.metrics.store"
STORE_PUBLIC = {STORE}
"""Outside the store's own package only its ``__init__`` (the interface and the implementations) is imported."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target
            for alias in node.names:  # ``from nephoscope.x import y`` may name the module x.y
                yield f"{target}.{alias.name}"
        yield from _imports(node, module, is_package)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
TREES = {name: ast.parse(path.read_text()) for name, path in MODULES.items()}
"""Every module parsed once, at collection (CPython 3.11 can raise a spurious "AST constructor
recursion depth mismatch" when ``ast.parse`` runs again late in a long test session)."""


def _graph() -> dict[str, set[str]]:
    modules = MODULES
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for target in _imports(TREES[name], name, path.name == "__init__.py"):
            if target.startswith("nephoscope"):
                # The longest prefix that is a module of ours (``from a import b`` where b is a name).
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


GRAPH = _graph()


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _violations(check) -> list[str]:  # noqa: ANN001 - (importer, imported) -> reason or None
    found = []
    for importer, targets in sorted(GRAPH.items()):
        for target in sorted(targets):
            reason = check(importer, target)
            if reason:
                found.append(f"{importer} imports {target}: {reason}")
    return found


def test_the_graph_was_read() -> None:
    assert len(GRAPH) > 100
    assert "nephoscope.metrics.store" in GRAPH["nephoscope.metrics.service"]


def test_no_domain_imports_the_api_the_wiring_or_the_cli() -> None:
    def check(importer: str, target: str) -> str | None:
        if _package(importer) in DOMAINS and _package(target) in OUTER:
            return f"a domain ({_package(importer)}) must not depend on the {_package(target)} layer"
        return None

    assert _violations(check) == []


def test_the_agent_imports_nothing_of_the_server() -> None:
    def check(importer: str, target: str) -> str | None:
        if _package(importer) == "agent" and _package(target) not in AGENT_MAY_IMPORT:
            return f"the agent may import only {', '.join(AGENT_MAY_IMPORT)}"
        return None

    assert _violations(check) == []


def test_nothing_outside_the_store_imports_its_internals() -> None:
    def check(importer: str, target: str) -> str | None:
        inside = importer == STORE or importer.startswith(STORE + ".")
        if not inside and target.startswith(STORE + ".") and target not in STORE_PUBLIC:
            return f"use {STORE} (the interface), not its internals"
        return None

    assert _violations(check) == []


def test_domains_do_not_reach_into_the_api_shapes_of_each_other() -> None:
    """The HTTP surface is the only place that knows HTTP: no domain imports FastAPI or Starlette."""
    offenders = []
    for name, path in MODULES.items():
        if _package(name) not in DOMAINS:
            continue
        for target in _imports(TREES[name], name, path.name == "__init__.py"):
            if target.split(".")[0] in ("fastapi", "starlette"):
                offenders.append(f"{name} imports {target}")
    assert offenders == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` re-exporting its modules is not a circle: importing a module
    runs its package's ``__init__`` first, which is how Python works, not a dependency back."""
    return {module: {t for t in targets if not module.startswith(t + ".")} for module, targets in graph.items()}


def test_no_import_circles_between_modules() -> None:
    assert _cycles(_without_package_inits(GRAPH)) == []


def test_no_import_circles_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for importer, targets in GRAPH.items():
        source = _package(importer)
        packages.setdefault(source, set()).update(
            _package(t) for t in targets if _package(t) != source)
    assert _cycles(packages) == []


@pytest.mark.parametrize("package", sorted({_package(m) for m in GRAPH if m.count(".") >= 1 and
                                            (PACKAGE / _package(m)).is_dir()}))
def test_every_package_says_what_it_owns_and_may_import(package: str) -> None:
    doc = ast.get_docstring(TREES[f"nephoscope.{package}"]) or ""
    assert len(doc.split()) >= 15, f"nephoscope/{package}/__init__.py needs a docstring saying what it owns"
    assert "import" in doc.lower(), f"nephoscope/{package}/__init__.py must say what it may import"


def test_handlers_reach_the_services_through_the_one_dependency() -> None:
    """``app.state`` holds the container; only ``api.deps`` (and the app and health check that run
    before the services exist) read it."""
    allowed = {"nephoscope.api.deps", "nephoscope.api.app", "nephoscope.api.native.health"}
    offenders = [name for name, path in ((module_name(p), p) for p in PACKAGE.rglob("*.py"))
                 if "app.state." in path.read_text() and name not in allowed and _package(name) in ("api", "web")]
    assert offenders == []
