"""The client's IP address, for rate limits and login lockouts alike.

Behind Caddy or Nginx every request comes from the proxy, so REMOTE_ADDR is the proxy's
address. The proxy then tells us the real one in a header, but a client can send that header
too: it is believed only when settings say a trusted proxy is in front (TRUSTED_PROXY_COUNT).
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid_ip(value: str) -> str | None:
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """Return the IP address the request came from, never one the client chose."""
    # Empty when gunicorn listens on a Unix socket: such clients share one "unknown" bucket.
    remote_addr = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"  # noqa: S104
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote_addr
    header = settings.CLIENT_IP_HEADER.lower()
    if header == "x-real-ip":
        # The proxy overwrites X-Real-IP with the address it saw (deploy/ configs do).
        return _valid_ip(request.META.get("HTTP_X_REAL_IP", "")) or remote_addr
    # X-Forwarded-For: each proxy appends the address it saw, so with N trusted proxies the
    # client is the N-th entry from the right; anything further left was written by the client.
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote_addr
    return _valid_ip(hops[-proxies]) or remote_addr
