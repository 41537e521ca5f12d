"""gunicorn settings for ToolkitRAG (used by deploy/toolkitrag.service).

Worker class: gthread. A streamed answer holds its HTTP connection for the seconds the model
takes, so sync workers cap concurrent chats at the worker count. Each gthread worker serves
`threads` requests at once. Database connections come from a small pool per process
(DATABASE_POOL_SIZE), and a thread waiting on the model gives its connection back, so threads
are cheap: a thread waiting on a socket costs a little memory and no CPU.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))  # one per core on the target 2-core VPS
threads = int(os.environ.get("GUNICORN_THREADS", "80"))  # concurrent requests per worker
# Measured with bench/concurrency.py (figures in docs/benchmarks.md): streamed answers of 2 s of
# model time, gunicorn + PostgreSQL + the fake model + the clients all on one 2-core machine.
# Earlier, 20 answers opened at once: sync 2 workers 20.8 s wall clock (chats queue), gthread
# 2 x 16 4.4 s. With 2 x 64 threads, 128 chats stream at once, but then every thread holds a
# stream and /health waits for one to end (bench/chat_load.py: /health max 3.2 s); 2 x 80 keeps
# 32 threads for pages and probes at 128 streams.
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
