"""gunicorn settings of the backend, used by `make run` (scripts/run.sh) and in production (README "Deploying for
real"): `gunicorn -c deploy/gunicorn.conf.py -b HOST:PORT 'wxbackend:create_app()'`. Command-line options and
GUNICORN_CMD_ARGS override what is set here (e.g. `--workers 4`).

Worker class: threads (gthread), not the sync worker. A sync worker serves one connection at a time, so a few idle
connections (opened, nothing sent) hold every worker until `timeout` and WeChat's 5 s pass unanswered. A gthread
worker keeps idle and kept-alive connections in its poller: a thread waits at most 5 s for a new connection's first
bytes and then hands it back to the poller, so only more idle connections than threads can delay anyone. In
production the backend sits behind a buffering reverse proxy (nginx: `proxy_request_buffering on`, the default),
which forwards only complete requests; slow or idle clients then never reach gunicorn at all.

The access log: method, path and status, never the query string (WeChat's signature and nonce on /wechat, OAuth
codes, QR tokens) nor the referrer's query.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

worker_class = "gthread"
workers = 2
threads = 16  # per worker; each request holds one while it runs (database pool: SQLAlchemy's 5 + 10 overflow)
worker_connections = 1000  # open connections per worker, idle ones included
keepalive = 5  # seconds a kept-alive connection waits for its next request (nginx keeps the clients' own)
timeout = 30  # a worker whose main loop is silent this long is restarted
graceful_timeout = 30  # on restart, requests in flight get this long to finish
control_socket_disable = True  # no management socket in the home directory (gunicorn ≥ 24 opens one by default)
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]


class PathOnlyLogger(Logger):
    """gunicorn's logger whose access lines carry the path without its query string, the referrer likewise."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = _without_query(environ.get("RAW_URI", ""))
        atoms["r"] = f"{environ['REQUEST_METHOD']} {path} {environ['SERVER_PROTOCOL']}"
        atoms["q"] = atoms["{query_string}e"] = "-"
        for name in ("f", "{referer}i", "{raw_uri}e"):  # the referrer, and the raw URI as an environ atom
            if name in atoms:
                atoms[name] = _without_query(str(atoms[name]))
        return atoms


logger_class = PathOnlyLogger
