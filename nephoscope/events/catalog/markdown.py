"""The catalog as a documentation page (``docs/event-catalog.md``; a test checks the page is the
one the shipped definitions give)."""

from __future__ import annotations

from nephoscope.events.catalog.lookup import Catalog, EventTypeInfo

__all__ = ["render_markdown"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fields(fields: tuple[str, ...]) -> str:
    return ", ".join(f"`{f}`" for f in fields)


def render_markdown(catalog: Catalog) -> str:
    """The catalog as a documentation page: the common traits, then one section per service with
    its trait sets and a table of its event types (type, description, resource, traits)."""
    lines = [
        "# Event catalog",
        "",
        ("The OpenStack notifications nephoscope understands, generated from "
         "`nephoscope/events/definitions/*.yaml`. A type ending in `*` covers every name it matches "
         "(`instance.create.*`: `.start`, `.end`, `.error`); an exact name wins over a pattern, a longer "
         "pattern over a shorter one. Types not listed are still stored, with the common traits only."),
        "",
        ("Trait paths: `payload.` is the payload as sent, `data.` the payload with versioned objects "
         "unwrapped (`nova_object.data`), `context.` the request context; the first path that has a value "
         "gives the trait."),
        "",
        "## Traits every event has",
        "",
        "| trait | type | taken from (first found) |",
        "|---|---|---|",
    ]
    for trait in catalog.common_traits.values():
        lines.append(f"| `{trait.name}` | {trait.type} | {_cell(_fields(trait.fields))} |")
    by_service: dict[str, list[EventTypeInfo]] = {}
    for info in catalog.types():
        by_service.setdefault(info.service, []).append(info)
    common = catalog.common_traits
    for service in sorted(by_service):
        infos = by_service[service]
        lines += ["", f"## {service}", ""]
        used = [(info.source, name) for info in infos for name in info.trait_sets]
        for source, set_name in dict.fromkeys(used):
            traits = catalog.trait_sets.get(source, {}).get(set_name, {})
            lines += [f"Trait set *{set_name}*:", "", "| trait | type | taken from (first found) |", "|---|---|---|"]
            lines += [f"| `{t.name}` | {t.type} | {_cell(_fields(t.fields))} |" for t in traits.values()]
            lines.append("")
        lines += ["| type | description | resource | traits |", "|---|---|---|---|"]
        for info in infos:
            in_sets: set[str] = set()
            for set_name in info.trait_sets:
                in_sets.update(catalog.trait_sets.get(info.source, {}).get(set_name, {}))
            parts = [f"*{name}* set" for name in info.trait_sets]
            parts += [f"`{name}` ({kind})" for name, kind in info.traits.items()
                      if name not in in_sets and (name not in common
                                                  or info.trait_fields[name] != common[name].fields)]
            lines.append(f"| `{_cell(info.pattern)}` | {_cell(info.description)} | {_cell(info.resource_type)} "
                         f"| {_cell(', '.join(parts))} |")
    lines.append("")
    return "\n".join(lines)
