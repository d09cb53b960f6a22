"""Serve Keystone's WSGI application on loopback (run with the Keystone venv's Python, not ours).

``python keystone_wsgi.py PORT``: Keystone 30 ships no ``keystone-wsgi-public`` script, so its
``keystone.wsgi.api:application`` runs under the standard library's threaded WSGI server.
The configuration comes from ``OS_KEYSTONE_CONFIG_FILES`` (files separated by ``;``, the later
ones overriding). Prints ``ready`` once listening.
"""

import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class ThreadedServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the standard library's signature
        pass


def main() -> None:
    port = int(sys.argv[1])
    sys.argv = sys.argv[:1]  # keystone parses the command line when its application is imported
    from keystone.wsgi.api import application

    server = make_server("127.0.0.1", port, application, server_class=ThreadedServer, handler_class=QuietHandler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
