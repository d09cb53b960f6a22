"""The HTTP surface: Monasca v2.0 under ``/v2.0`` and ``/v3.0``, the native API under ``/v1``.

Handlers are thin: they decode parameters and bodies (``bodies``), authenticate and authorize in
one dependency naming the endpoint's policy rule (``security.requires``),
call a service of the container (``deps.get_services``) and shape the answer
(``responses``, ``errors``). Monasca's wire details (error bodies, links, paging,
timestamps) live in ``monasca/``. ``app`` builds the FastAPI application. May import every
domain's public surface, ``nephoscope.server`` (the container) and ``nephoscope.web`` (its
router); no domain imports the API.
"""
