"""The web dashboard, served at ``/ui/``: a small multi-page app of plain HTML, CSS and JavaScript.

The server side (``routes``) only hands out files and imports nothing of nephoscope; errors
take the API's shape through Starlette's own exception. The pages talk to the API of the same server with the user's API token (kept in the
browser's localStorage, sent as ``X-Auth-Token``); the server side only hands out files, so
the dashboard sees exactly what any API client would, within the tenant scope the API
enforces.

``static/`` holds the shell (``index.html``, ``app.css``, ``pages.css``, ``logs.css`` for the
log, trace and scheduling pages and the category colours), the JavaScript modules
(``js/app.js`` the shell and hash router, ``js/api.js``, ``js/session.js`` (who the token is:
``GET /v1/whoami``), ``js/dom.js``, ``js/format.js``, ``js/charts.js``, ``js/svg.js`` (small
SVG charts built like ``dom.h()``), and the pages under ``js/pages/``: a section module with
tabs, such as ``logs.js`` or ``traces.js``, and one module per tab or shared part, such as
``search-list.js``, the paged results of a search form) and a
vendored copy of uPlot 1.6.32 (MIT, ``uPlot.LICENSE.txt``) for the time-series charts: no
build step and nothing fetched from the internet at run time. The page is served with a
Content-Security-Policy that allows scripts and styles from this server only.

Adding a page: a module under ``js/pages/`` exporting ``{ title, render(view, ctx) }`` and a
line in ``PAGES`` of ``js/app.js``. ``ctx`` makes the page's requests (cancelled when the user
leaves), runs its timers (``ctx.every``), shows errors (``ctx.failed``) and carries the
session's scope (``ctx.session.tenant()``). Text from the API goes in through ``dom.h()``,
which only ever sets text (``svg.s()`` likewise for SVG). Tests: ``tests/web/`` (a real
Chromium against a real server).
"""
