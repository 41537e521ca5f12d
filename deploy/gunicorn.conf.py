"""gunicorn settings for ToolkitRAG (used by deploy/toolkitrag.service).

Worker class: gthread. A streamed answer holds its HTTP connection for the seconds the model
takes, so sync workers cap concurrent chats at the worker count. Each gthread worker serves
`threads` requests at once. Database connections come from a small pool per process
(DATABASE_POOL_SIZE), and a thread waiting on the model gives its connection back, so threads
are cheap: a thread waiting on a socket costs a little memory and no CPU.
"""

import os
import sys
from pathlib import Path

# logconfig_dict below uses the app's formatter (toolkitrag/log_format.py): make the app importable
# whatever the working directory (bench/health.py serves another app with this file).
_APP_DIR = str(Path(__file__).resolve().parent.parent)
if _APP_DIR not in sys.path:
    sys.path.append(_APP_DIR)

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
# No preload: each worker imports the app itself, so `systemctl reload` (HUP: new workers, then the
# old ones retire gracefully) serves the code now on disk. With preload_app = True the master
# imports the app once and HUP forks new workers from that old copy: an upgrade kept serving the
# previous code (issue 15). Cost: the workers no longer share the imported app's pages: at idle,
# 2 workers + master use 113 MB PSS instead of 92 MB (about 10 MB more per worker; DEPLOY.md
# section 15). And any new worker (a reload, max_requests below, a crash) imports the code on disk:
# one that cannot import it stops gunicorn ("Worker failed to boot"). So the unit's ExecReload runs
# `manage.py check` before HUP, and DEPLOY.md section 15 runs pull, migrate and reload in one go.
preload_app = False
forwarded_allow_ips = "127.0.0.1,::1"  # only the local proxy may say the request was HTTPS
control_socket_disable = True  # no control socket in the service user's home (read-only there)

accesslog = None  # the app writes one JSON line per request (toolkitrag/request_logging.py)
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # ISO-8601 times with their offset, like the app's lines (toolkitrag/log_format.py).
        "json": {
            "()": "toolkitrag.log_format.IsoJsonFormatter",
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
    # Should preload_app ever be turned back on, a connection opened while importing the app
    # would be shared by every worker after fork; close it so that each worker opens its own.
    # Without preload, Django is not even configured yet in the master: nothing to close.
    if not server.cfg.preload_app:
        return
    from django.db import connections

    connections.close_all()
