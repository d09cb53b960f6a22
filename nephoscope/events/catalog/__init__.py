"""The event catalog: what each OpenStack notification type means, and the traits to take from it.

One module a job, each importing only those above it:

* ``paths``: trait paths (``data.uuid``, ``context.project_id``, ...) compiled into getters, and the
  converters to the trait types;
* ``loader``: the YAML definition files (``nephoscope/events/definitions/*.yaml``, their format is
  described there) read and checked, every problem reported at once (``CatalogError``);
* ``lookup``: ``Catalog``, the definitions by event type; ``to_event`` makes a notification an
  ``Event``;
* ``markdown``: the catalog as ``docs/event-catalog.md``.

Import from here: ``from nephoscope.events.catalog import Catalog``.
"""

from nephoscope.events.catalog.loader import DEFINITIONS_DIR, CatalogError
from nephoscope.events.catalog.lookup import CONTEXT_FALLBACKS, CORE_TRAITS, Catalog, EventTypeInfo, TraitInfo
from nephoscope.events.catalog.markdown import render_markdown
from nephoscope.events.catalog.paths import TRAIT_TYPES, path_segments, split_publisher

__all__ = [
    "CONTEXT_FALLBACKS",
    "CORE_TRAITS",
    "DEFINITIONS_DIR",
    "TRAIT_TYPES",
    "Catalog",
    "CatalogError",
    "EventTypeInfo",
    "TraitInfo",
    "path_segments",
    "render_markdown",
    "split_publisher",
]
