"""Login lockouts (django-axes): how close a sign-in name is to one, and lifting them.

Axes counts failures per sign-in name and client address, whether or not the name exists, so
the warning tells a visitor nothing about which accounts exist.
"""

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.http import HttpRequest

# The login page warns once this many attempts or fewer are left before the lockout.
WARN_WHEN_LEFT = 2


def axes_username(request: HttpRequest, credentials: dict | None = None) -> str:
    """The sign-in name axes counts failures under (AXES_USERNAME_CALLABLE).

    Lower-cased because sign-in is case-insensitive: otherwise "Owner", "OWNER" and "owner"
    would each get their own allowance of failures against the same account.
    """
    if credentials:
        username = credentials.get("username")
    else:
        username = getattr(request, "data", request.POST).get("username")
    return (username or "").strip().lower()


def cooloff_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def attempts_left(request: HttpRequest, username: str) -> int:
    """Failed sign-ins this name may still have from this client before it is locked out."""
    failures = AxesProxyHandler.get_failures(request, {"username": username})
    return max(settings.AXES_FAILURE_LIMIT - failures, 0)


def warning(request: HttpRequest, username: str) -> str | None:
    """The login page's warning after a failed attempt, when a lockout is near."""
    if not username:
        return None
    left = attempts_left(request, username)
    if left == 0 or left > WARN_WHEN_LEFT:
        return None
    attempts = "1 attempt" if left == 1 else f"{left} attempts"
    return f"{attempts} left before sign-in is locked for {cooloff_minutes()} minutes."


def lift(username: str) -> int:
    """Lift every lockout of a sign-in name, from any address; returns how many records went."""
    return AxesProxyHandler.reset_attempts(username=username.lower())
