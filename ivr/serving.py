"""How gunicorn serves the app (the Procfile's ``--config python:ivr.serving``).

- **gevent workers.** Each connection is a greenlet, not a thread or a process: idle and
  slow clients (a socket held open, one byte a second) cost a little memory and never
  hold back a caller's request. Sync and threaded workers give each connection a worker
  or a thread, so a handful of idle sockets starves every call.
- **Loaded once, in the master** (``preload_app``). The flows, settings and helplines are
  read and checked before any worker starts; a worker that dies or times out is forked
  again from that memory and never reads the disk. ``kill -HUP`` (``ivr reload``) is the
  one way to take new files: the master loads and checks them, and keeps what it serves
  when they are broken.
- **Statistics of every worker** (see :mod:`ivr.stats.gunicorn`): the metrics' multi-process
  folder, and each worker's last counts written when it stops.
- **No query string in what gunicorn prints.** Twilio puts ``From`` and ``Digits`` in the
  query string of GET requests, and gunicorn names the request's URI when one fails.
"""

from __future__ import annotations

import logging
import os
import re

from gevent import monkey

# Before anything opens a socket or takes a lock: the app is loaded in the master, then forked.
monkey.patch_all()

from gunicorn.arbiter import Arbiter  # noqa: E402 - after patching, as gevent requires

# The statistics' hooks: metrics counted across every worker (prometheus_client's multi-process
# folder, prepared when that module is imported, before the app), and a worker's last counts written.
from ivr.stats.gunicorn import child_exit, on_exit, worker_exit  # noqa: E402, F401 - gunicorn reads them here

worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_connections = 1000  # per worker: idle and slow sockets included
preload_app = True
timeout = 20
graceful_timeout = 10
keepalive = 75  # above what load balancers keep idle connections open (60 s on most)
accesslog = None  # an access line names the URL: see the README's "Privacy and logs"
control_socket_disable = True  # gunicorn 27's control socket: one path per user, shared by every instance

QUERY = re.compile(r"\?\S*")


class NoQueryStrings(logging.Filter):
    """Cuts query strings out of gunicorn's lines (``Error handling request GET /voice?From=…``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = QUERY.sub("?…", message), ()
        return True


_FORMAT = {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s", "datefmt": "[%Y-%m-%d %H:%M:%S %z]"}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"no_query_strings": {"()": NoQueryStrings}},
    "formatters": {"generic": _FORMAT},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "filters": ["no_query_strings"],
            "stream": "ext://sys.stderr",
        },
        "nowhere": {"class": "logging.NullHandler"},
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        # With a logging configuration gunicorn logs every request here, whatever accesslog says.
        "gunicorn.access": {"level": "INFO", "handlers": ["nowhere"], "propagate": False},
    },
    "root": {"level": "INFO", "handlers": []},
}


def on_reload(arbiter: Arbiter) -> None:
    """``kill -HUP``: load and check the files on disk; take them only if they are valid."""
    from ivr.app import reload_app

    reload_app(arbiter.app.wsgi())
