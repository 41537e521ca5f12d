"""Django database engine: PostgreSQL, with the server started on the first connection.

Configured as ENGINE "toolkitrag.embedded_db" with an extra "PGDATA" key. Nothing starts at
import time, so `manage.py --help`, `collectstatic` and settings checks never touch a server.
"""

from django.db.backends.postgresql import base

from . import server


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict:
        running = server.ensure_running(self.settings_dict["PGDATA"])
        server.ensure_database(running, self.settings_dict["NAME"])
        params = super().get_connection_params()
        params.update(host=running.socket_dir, port=running.port, user=running.user)
        return params
