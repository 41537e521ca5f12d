"""Every URL pattern of the project, from the URL resolver, for the tests that sweep them all
(access, isolation, CSRF): views added later are swept without anyone listing them."""

import re

from django.urls import URLPattern, URLResolver, get_resolver

PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")  # <int:x>, <x>, (?P<x>...)


def all_routes(resolver: URLResolver | None = None, prefix: str = "") -> list[tuple[str, URLPattern]]:
    """(route, pattern) for every URL pattern, nested includes and the admin's included."""
    routes = []
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            routes += all_routes(entry, route)
        else:
            routes.append((route, entry))
    return routes


def fill(route: str, values: dict) -> str:
    """The URL for `route` with its parameters taken from `values`; a parameter the sweep has no
    value for fails the test, so that a new kind of URL is not silently left out."""

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"the sweep does not know what to put in <{name}> of {route}: add it"
        return str(values[name])

    return "/" + PARAMETER.sub(value, route).lstrip("^").removesuffix("$").replace("\\Z", "")
