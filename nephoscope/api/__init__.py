"""The HTTP surface: Monasca v2.0 under ``/v2.0`` and ``/v3.0``, the native API under ``/v1``.

Handlers are thin: they decode parameters and bodies (``bodies``; ``parameters`` refuses the query
parameters a route does not read), authenticate and authorize in one dependency naming the
endpoint's policy rule (``security.requires``),
call a service of the container (``deps.get_services``) and shape the answer
(``responses``, ``errors``). What the API records in the audit trail — every change through an
audited route, every refused request — is ``auditing``'s. Monasca's wire details (error bodies, links, paging,
timestamps) live in ``monasca/``. ``app`` builds the FastAPI application. May import every
domain's public surface, ``nephoscope.server`` (the container) and ``nephoscope.web`` (its
router); no domain imports the API.
"""
