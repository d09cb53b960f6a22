"""The evaluation corpus written from the services' own format strings (``bench/log_corpus.py``),
for tests: the generator loaded from the bench folder, and a deterministic slice generated once
per machine beside the sdists it reads (downloaded through the generator's cache; a test is
skipped when they cannot be fetched, and fails under CI=true)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.conftest import ROOT, missing

SLICE_TEMPLATES = 300  # format strings in the tests' slice (~9,000 records)


def generator() -> ModuleType:
    """``bench/log_corpus.py`` as a module (the bench folder is scripts, not a package)."""
    name = "nephoscope_bench_log_corpus"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "log_corpus.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def corpus_slice(templates: int = SLICE_TEMPLATES, seed: int = 18):
    """The slice (``log_corpus.Corpus``), generated on first use under the sdist cache."""
    corpus = generator()
    cache = corpus.default_cache()
    try:
        return corpus.ensure(cache.parent / f"oslo-corpus-{templates}-{seed}", cache, seed=seed, templates=templates)
    except RuntimeError as error:
        missing(f"the services' sdists cannot be fetched: {error}", "PyPI must be reachable (pip download)")
        raise


def calls_of(source: str, package: str = "nova", logger: str = "nova.conductor.manager") -> list:
    """The LOG calls the generator reads from ``source``."""
    return list(generator().calls_in(source, package, logger))
