"""Embedded PostgreSQL + pgvector for development and tests (no DATABASE_URL outside prod).

`server.py` starts and finds the server; `base.py` is a Django database engine that asks it
for the socket on every new connection, so that `runserver` (and its autoreloader child),
`manage.py` commands and tests all share one server per data directory.
"""
