"""OpenTelemetry metric and attribute names to Prometheus names, as Prometheus's OTLP receiver makes them.

The rules of the OpenTelemetry specification (``compatibility/prometheus_and_openmetrics.md``)
as Prometheus 3 applies them (``github.com/prometheus/otlptranslator``), under its four
translation strategies (``[prometheus] otlp_translation_strategy``):

- ``UnderscoreEscapingWithSuffixes`` (the default): every character of a metric name outside
  ``[a-zA-Z0-9:]`` separates words joined by ``_``; the unit becomes a suffix (``s`` →
  ``_seconds``, ``By/s`` → ``_bytes_per_second``; units in braces are annotations and
  dropped; ``1`` adds ``_ratio`` to gauges), monotonic sums end in ``_total``, a leading digit
  gets ``_``. Label names: characters outside ``[a-zA-Z0-9_]`` become ``_``, a leading digit
  gets ``key_``, a single leading ``_`` gets ``key``.
- ``UnderscoreEscapingWithoutSuffixes``: the same escaping, no suffixes.
- ``NoUTF8EscapingWithSuffixes``: names kept as sent (UTF-8), suffixes appended.
- ``NoTranslation``: names kept as sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

STRATEGIES = ("UnderscoreEscapingWithSuffixes", "UnderscoreEscapingWithoutSuffixes", "NoUTF8EscapingWithSuffixes",
              "NoTranslation")

UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes",
    "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
    "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}
PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

_METRIC_WORD = re.compile(r"[a-zA-Z0-9:]+")
_METRIC_INVALID = re.compile(r"[^a-zA-Z0-9:_]+")
_LABEL_INVALID = re.compile(r"[^a-zA-Z0-9_]")
_UNDERSCORES = re.compile(r"__+")


class Kind(Enum):
    """The OTLP metric kinds as naming distinguishes them."""

    GAUGE = "gauge"
    COUNTER = "counter"  # a monotonic sum
    SUM = "sum"  # a non-monotonic sum (an up-down counter)
    HISTOGRAM = "histogram"
    SUMMARY = "summary"


class NameError_(ValueError):
    """A name that translates to nothing usable; the message says which."""


def _unit_suffixes(unit: str) -> tuple[str, str]:
    """(main, per) suffixes of a UCUM unit, untranslated characters kept: "By/s" -> ("bytes", "per_second")."""
    main_unit, _, per_unit = unit.partition("/")
    main_unit = main_unit.strip()
    main = UNITS.get(main_unit, main_unit) if main_unit and not any(c in main_unit for c in "{}") else ""
    per = ""
    per_unit = per_unit.strip()
    if per_unit and not any(c in per_unit for c in "{}"):
        per = PER_UNITS.get(per_unit, per_unit)
    return main, ("per_" + per if per else "")


def _clean_unit(unit: str) -> str:
    return _UNDERSCORES.sub("_", re.sub(r"[^a-zA-Z0-9:]", "_", unit)).removeprefix("_")


def _trim_suffix(name: str, suffix: str) -> str:
    """``name`` without ``suffix`` and the one delimiter before it."""
    return name[: -(len(suffix) + 1)] if name.endswith(suffix) and len(name) > len(suffix) + 1 else name


@dataclass(frozen=True, slots=True)
class Namer:
    escape: bool = True
    suffixes: bool = True

    @classmethod
    def for_strategy(cls, strategy: str) -> "Namer":
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown translation strategy {strategy!r}")
        return cls(escape=strategy.startswith("Underscore"), suffixes=strategy.endswith("WithSuffixes"))

    def metric(self, name: str, unit: str, kind: Kind) -> str:
        """The Prometheus name of an OTLP metric (histograms and summaries: the base of their series)."""
        if not self.escape:
            built = self._with_suffixes_verbatim(name, unit, kind) if self.suffixes else name
        elif self.suffixes:
            built = self._normalized(name, unit, kind)
        else:
            built = "_".join(word for word in _METRIC_INVALID.split(name) if word)
            if built[:1].isdigit():
                built = "_" + built
        if not built or (built != name and not built.strip("_")):
            raise NameError_(f"metric name {name!r} translates to no usable Prometheus name")
        return built

    def _normalized(self, name: str, unit: str, kind: Kind) -> str:
        words = _METRIC_WORD.findall(name)
        main, per = _unit_suffixes(unit)
        main, per = _clean_unit(main), _clean_unit(per)
        if main in words:
            main = ""
        if per == "per_":
            per = ""
        else:
            per = per.removesuffix("_")
            if per in words:
                per = ""
        if per:
            main = main.removesuffix("_")
        words += [suffix for suffix in (main, per) if suffix]
        if kind is Kind.COUNTER:
            words = [word for word in words if word != "total"] + ["total"]
        if unit == "1" and kind is Kind.GAUGE:
            words = [word for word in words if word != "ratio"] + ["ratio"]
        built = "_".join(words)
        return "_" + built if built[:1].isdigit() else built

    @staticmethod
    def _with_suffixes_verbatim(name: str, unit: str, kind: Kind) -> str:
        ratio = unit == "1" and kind is Kind.GAUGE
        total = kind is Kind.COUNTER
        if ratio:
            name = _trim_suffix(name, "ratio")
        if total:
            name = _trim_suffix(name, "total")
        main, per = _unit_suffixes(unit)
        if per:
            name = _trim_suffix(name, per)
        if main and not name.endswith(main):
            name += "_" + main
        return name + ("_" + per if per else "") + ("_total" if total else "") + ("_ratio" if ratio else "")

    def label(self, name: str) -> str:
        """The Prometheus label name of an OTLP attribute."""
        if not name or not self.escape:
            if not name:
                raise NameError_("an attribute has an empty name")
            return name
        built = _LABEL_INVALID.sub("_", name)
        if built[0].isdigit():
            built = "key_" + built
        elif built.startswith("_") and not built.startswith("__"):
            built = "key" + built
        if built != name and not built.strip("_"):
            raise NameError_(f"attribute name {name!r} translates to no usable label name")
        return built

    def unit(self, unit: str) -> str:
        """The unit as metadata names it: "By/s" -> "bytes_per_second"."""
        main, per = _unit_suffixes(unit)
        if self.escape:
            main, per = _clean_unit(main), _clean_unit(per)
        joined = f"{main}_{per}" if main and per else main or per
        return joined.strip("_") if self.escape else joined
