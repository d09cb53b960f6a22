"""The web dashboard, served at ``/ui/``: one page of plain HTML, CSS and JavaScript.

The page talks to the Monasca v2.0 API of the same server with the user's API token
(kept in the browser's localStorage, sent as ``X-Auth-Token``); the server side only
hands out files, so the dashboard sees exactly what any API client would.

``static/`` holds the page (``index.html``, ``app.js``, ``app.css``) and a vendored
copy of uPlot 1.6.32 (MIT, ``uPlot.LICENSE.txt``) for the charts: no build step and
nothing fetched from the internet at run time.
"""
