"""Who sees which toolkit: everyone signed in (the default), or only members of chosen groups.

Staff and superusers see every toolkit (they manage them). Everything that reads toolkit content
for a user asks here: the SQL condition `VISIBLE_TOOLKIT` sits inside toolkit.search's scope of
versions, so both sides of retrieval (keyword and vector) and BM25's statistics only ever see
visible versions, before anything is ranked; the ORM paths (a source page, a plan's citations)
use `visible_toolkits` and `can_see_chunk`.

A `Viewer` carries what the condition needs (staff or not, the user's group ids) as plain values,
so the toolkit app never names the accounts' tables in SQL.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from toolkit.models import Access, Chunk, Toolkit


@dataclass(frozen=True)
class Viewer:
    """Whose reading a search or a page is for."""

    sees_all: bool  # staff: every toolkit, restricted or not
    group_ids: tuple[int, ...] = ()

    def sql_params(self) -> dict:
        """VISIBLE_TOOLKIT's parameters."""
        return {"sees_all": self.sees_all, "group_ids": list(self.group_ids)}

    def toolkit_filter(self, prefix: str = "") -> Q:
        """VISIBLE_TOOLKIT for the ORM, on toolkits or through a relation (`prefix`, such as
        'document__toolkit__')."""
        if self.sees_all:
            return Q()
        return Q(**{f"{prefix}access": Access.SIGNED_IN}) | Q(
            **{f"{prefix}access": Access.GROUPS, f"{prefix}groups__in": list(self.group_ids)}
        )


# Benchmarks, maintenance commands and staff pages: every toolkit. Never for a user's request.
EVERY_TOOLKIT = Viewer(sees_all=True)
NOBODY = Viewer(sees_all=False, group_ids=())  # an anonymous or inactive user: no groups, no staff

# The condition on a toolkit row aliased `t` (used inside toolkit.search's scope of versions).
# Restricted with no group chosen: nobody but staff, never everyone.
VISIBLE_TOOLKIT = """(%(sees_all)s OR t.access = 'signed_in' OR (t.access = 'groups' AND EXISTS (
    SELECT 1 FROM toolkit_access_groups g WHERE g.toolkit_id = t.id AND g.group_id = ANY(%(group_ids)s::int[])
)))"""


def viewer_of(user) -> Viewer:
    """The user's view: staff see every toolkit; others those open to everyone signed in and
    those of their groups."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NOBODY
    if user.is_staff or user.is_superuser:
        return EVERY_TOOLKIT
    return Viewer(sees_all=False, group_ids=tuple(sorted(user.groups.values_list("pk", flat=True))))


def visible_toolkits(viewer: Viewer) -> QuerySet[Toolkit]:
    return Toolkit.objects.filter(viewer.toolkit_filter()).distinct()


def visible_chunks(viewer: Viewer) -> QuerySet[Chunk]:
    """Chunks of the toolkits the viewer sees (any version: a citation may name an older one)."""
    if viewer.sees_all:
        return Chunk.objects.all()
    return Chunk.objects.filter(document__toolkit__in=visible_toolkits(viewer))


def visible_chunk_ids(viewer: Viewer, chunk_ids: list[int]) -> set[int]:
    """Which of the chunks named the viewer may read (a deleted chunk is not among them)."""
    if not chunk_ids:
        return set()
    return set(visible_chunks(viewer).filter(pk__in=chunk_ids).values_list("pk", flat=True))


def hidden_chunk_ids(viewer: Viewer, chunk_ids: list[int]) -> set[int]:
    """Which of the chunks named exist but are of a toolkit the viewer may not see (a citation
    made before they lost access). A deleted chunk is not among them: it is gone for everyone."""
    if viewer.sees_all or not chunk_ids:
        return set()
    existing = Chunk.objects.filter(pk__in=chunk_ids)
    return set(existing.exclude(pk__in=visible_chunks(viewer).values("pk")).values_list("pk", flat=True))


def hidden_citation_test(viewer: Viewer, citations: list[dict]) -> Callable[[dict], bool]:
    """Whether a stored citation (of those given) is one the viewer may not read now: of a chunk
    of a toolkit they cannot see, or naming such a toolkit (its chunk may be gone since: a
    re-ingested version's are, and the citation still carries the toolkit, heading and snippet).
    Two queries for any number of citations (a whole conversation's)."""
    if viewer.sees_all or not citations:
        return lambda citation: False
    chunk_ids = [c["chunk_id"] for c in citations if isinstance(c.get("chunk_id"), int)]
    hidden_ids = hidden_chunk_ids(viewer, chunk_ids)
    hidden_names = set(
        Toolkit.objects.exclude(pk__in=visible_toolkits(viewer).values("pk")).values_list("name", flat=True)
    )
    return lambda c: c.get("chunk_id") in hidden_ids or c.get("toolkit") in hidden_names
