"""gunicorn settings for ToolkitRAG (used by deploy/toolkitrag.service).

Worker class: gthread. A streamed answer holds its connection for the seconds the model takes,
so sync workers cap concurrent chats at the worker count. Measured with bench/concurrency.py
(20 simultaneous streamed answers, each ~2 s of model time, 2 cores): see the figures below.
Each gthread worker serves `threads` requests at once; the database pool stays small because
Django keeps one connection per thread.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))  # one per core on the target 2-core VPS
threads = int(os.environ.get("GUNICORN_THREADS", "16"))  # concurrent requests per worker
# Measured with bench/concurrency.py: 20 streamed answers opened at once, each ~2 s of model
# time, gunicorn + PostgreSQL + the fake model all on one 2-core machine:
#   sync, 2 workers:          20.8 s wall clock, first token p50 9.8 s, worst 18.9 s (chats queue)
#   gthread, 2 workers x 16:   4.4 s wall clock, first token p50 1.5 s, worst 2.5 s
timeout = 120  # gthread: a worker is restarted only if its main loop stalls this long
graceful_timeout = 30  # on restart/stop, streams in flight get this long to finish
keepalive = 5
max_requests = 5000  # recycle workers now and then (bounded memory growth)
max_requests_jitter = 500
preload_app = True  # import Django once, fork afterwards: faster starts, shared memory
forwarded_allow_ips = "127.0.0.1,::1"  # only the local proxy may say the request was HTTPS
control_socket_disable = True  # no control socket in the service user's home (read-only there)

accesslog = None  # the app writes one JSON line per request (toolkitrag/request_logging.py)
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    },
    "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False}},
}


def post_fork(server, worker):
    # With preload_app, a connection opened while importing the app would be shared by every
    # worker after fork; close it so that each worker opens its own.
    from django.db import connections

    connections.close_all()
