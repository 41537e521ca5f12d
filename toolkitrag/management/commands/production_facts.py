"""What deploy/validate-production.sh needs to know from inside the app, one `name<TAB>value` line each.

The script runs this as the service user with the service's env file, so it reports the settings
the running app really has (DEBUG as Django parsed it, not as the file spells it), whether this
configuration reaches PostgreSQL, pgvector and Redis, pending migrations, and the backups'
manifests. With --probe-session it also opens a short session for the probe user, so that the
script can ask one question through the proxy (see probe_user() for what that user may do).
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.core.mail import get_connection
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from toolkitrag import backups

PROBE_USERNAME = "toolkitrag-probe"
PROBE_SESSION_SECONDS = 600


def one_line(value: object) -> str:
    return " ".join(str(value).split())


def database_facts() -> dict[str, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version')")
            version = cursor.fetchone()[0]
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        names = [f"{migration.app_label}.{migration.name}" for migration, _ in pending]
    except Exception as error:  # reported as the check's failure, whatever broke
        return {"database": f"unreachable: {one_line(error) or type(error).__name__}"}
    return {
        "database": f"ok (PostgreSQL {version})",
        "pgvector": row[0] if row else "missing",
        "pending_migrations": str(len(pending)) + (": " if pending else "") + " ".join(names[:5]),
    }


def cache_fact() -> str:
    client = getattr(cache, "client", None)
    if client is None or not hasattr(client, "get_client"):
        return f"not Redis: {settings.CACHES['default']['BACKEND']}"
    try:
        client.get_client().ping()
    except Exception as error:  # any failure to reach Redis is the same answer
        return f"unreachable: {type(error).__name__}: {one_line(error)}"
    return "ok"


def email_fact() -> str:
    """Whether the configured mail server accepts a session (connect, STARTTLS, login); sends nothing."""
    if not settings.EMAIL_BACKEND.endswith("smtp.EmailBackend"):
        return f"not delivered: EMAIL_BACKEND is {settings.EMAIL_BACKEND}"
    where = f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except Exception as error:  # refused, timeout, TLS or login failure: all the same answer
        return f"unreachable at {where}: {type(error).__name__}: {one_line(error)}"
    connection.close()
    return f"ok: {where}"


def _label(backup: backups.Backup) -> str:
    # Manifests written before `label` was recorded carry it in the directory name only.
    if "label" in backup.manifest:
        return str(backup.manifest["label"] or "")
    return "scheduled" if backup.path.name.endswith("-scheduled") else ""


def backup_facts(root: Path, database_hours: float, files_hours: float) -> dict[str, str]:
    """The newest *scheduled* backups (safety backups such as pre-restore do not count)."""
    scheduled = [
        b for b in backups.list_backups(root) if not b.manifest.get("damaged") and _label(b) == "scheduled"
    ]
    now = datetime.now(UTC)
    facts = {}
    for kind, filename, hours in (
        ("database", backups.DUMP, database_hours),
        ("files", backups.MEDIA, files_hours),
    ):
        newest = next((b for b in scheduled if filename in backups.FILES_OF_MODE[b.mode]), None)
        if newest is None:
            facts[f"backup_{kind}"] = f"none: no scheduled backup holding the {kind} in {root}"
            continue
        created = datetime.fromisoformat(newest.manifest["created_at"])
        age = now - (created if created.tzinfo else created.replace(tzinfo=UTC))
        verdict = "ok" if age <= timedelta(hours=hours) else "stale"
        facts[f"backup_{kind}"] = f"{verdict}: {newest.path.name}, {age.total_seconds() / 3600:.1f} h old"
    if not scheduled:
        facts["backup_checksums"] = f"none: no scheduled backup in {root}"
        return facts
    newest = scheduled[0]
    try:
        backups.check_files(newest.path, newest.manifest)
        facts["backup_checksums"] = f"ok: {newest.path.name}"
    except (backups.BackupError, KeyError, TypeError) as error:
        facts["backup_checksums"] = f"bad: {newest.path.name}: {error}"
    return facts


def probe_user():
    """The account the validation script asks its test question with.

    It cannot log in (no usable password), is neither staff nor superuser and holds no
    permission: all it can do is what any signed-in user can, and its session lasts
    PROBE_SESSION_SECONDS. Its conversations are deleted by the probe right after the question.
    """
    user, created = get_user_model().objects.get_or_create(
        username=PROBE_USERNAME, defaults={"email": "", "is_staff": False, "is_superuser": False}
    )
    if created or user.has_usable_password() or user.is_staff or user.is_superuser:
        user.set_unusable_password()
        user.is_staff = user.is_superuser = False
        user.is_active = True
        user.save()
        user.user_permissions.clear()
        user.groups.clear()
    return user


def probe_session() -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    user = probe_user()
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.set_expiry(PROBE_SESSION_SECONDS)
    session.create()
    return session.session_key


class Command(BaseCommand):
    help = "Print the facts deploy/validate-production.sh checks, one 'name<TAB>value' line each."

    def add_arguments(self, parser):
        parser.add_argument("--backup-max-age-hours", type=float, default=26.0)
        parser.add_argument("--files-backup-max-age-hours", type=float, default=8 * 24 + 2)
        parser.add_argument("--probe-session", dest="open_probe", action="store_true", help="open one")
        parser.add_argument("--end-probe-session", metavar="KEY", help="delete a probe session")

    def handle(
        self, *args, backup_max_age_hours, files_backup_max_age_hours, open_probe, end_probe_session, **kw
    ):
        if end_probe_session:
            SessionStore(session_key=end_probe_session).delete()
            return
        facts = {
            "env": settings.ENV,
            "debug": str(settings.DEBUG).lower(),
            "secret_key_length": str(len(settings.SECRET_KEY)),
            "allowed_hosts": ",".join(settings.ALLOWED_HOSTS),
            "csrf_trusted_origins": ",".join(settings.CSRF_TRUSTED_ORIGINS),
            "cookies_secure": str(settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE).lower(),
            "trusted_proxy_count": str(settings.TRUSTED_PROXY_COUNT),
            "rate_limit_enabled": str(settings.RATE_LIMIT_ENABLED).lower(),
            "media_root": settings.MEDIA_ROOT,
            "backup_dir": settings.BACKUP_DIR,
            "cache": cache_fact(),
            "email": email_fact(),
            **database_facts(),
            **backup_facts(Path(settings.BACKUP_DIR), backup_max_age_hours, files_backup_max_age_hours),
        }
        if open_probe and facts["database"].startswith("ok"):
            try:
                facts["probe_session"] = probe_session()
            except Exception as error:  # e.g. migrations not applied yet: the stream check says so
                facts["probe_session_error"] = f"{type(error).__name__}: {error}"
        for name, value in facts.items():
            self.stdout.write(f"{name}\t{one_line(value)}")
