"""Citations on plan items: copied from toolkit chunks when added, compared with the active version later."""

from dataclasses import dataclass

from django.db.models import Q

from strategies.models import ItemCitation, PlanItem
from toolkit.access import Viewer, hidden_citation_test, visible_toolkits
from toolkit.models import Chunk, ToolkitVersion
from toolkit.text_html import snippet


def citations_from_chunks(
    item: PlanItem, chunks: list[Chunk], numbers: list[int] | None = None
) -> list[ItemCitation]:
    """Snapshot chunks (with document and toolkit loaded) as the item's citations [1], [2], …"""
    numbers = numbers or list(range(1, len(chunks) + 1))
    return [
        ItemCitation(
            item=item,
            n=n,
            chunk=chunk,
            toolkit=chunk.document.toolkit,
            document=chunk.document,
            toolkit_name=chunk.document.toolkit.name,
            version_tag=chunk.document.version_tag,
            heading_path=list(chunk.heading_path),
            snippet=snippet(chunk.text, 600),
            content_hash=chunk.content_hash,
        )
        for n, chunk in zip(numbers, chunks, strict=True)
    ]


def citations_from_answer(item: PlanItem, answer_citations: list[dict], viewer: Viewer) -> list[ItemCitation]:
    """Snapshot a chat answer's citations, keeping the answer's numbers so its [n] markers still match.

    Chunks deleted since the answer was given are kept as the answer showed them; sections of a
    toolkit the viewer can no longer see are left out (the chat shows them as no longer available).
    """
    chunk_ids = [c.get("chunk_id") for c in answer_citations if isinstance(c.get("chunk_id"), int)]
    is_hidden = hidden_citation_test(viewer, answer_citations)
    chunks = Chunk.objects.select_related("document__toolkit").in_bulk(chunk_ids)
    snapshots = []
    for cited in answer_citations:
        if is_hidden(cited):
            continue
        chunk = chunks.get(cited.get("chunk_id"))
        if chunk is not None:
            snapshots += citations_from_chunks(item, [chunk], [cited["n"]])
            snapshots[-1].snippet = cited.get("snippet") or snapshots[-1].snippet
        else:
            snapshots.append(
                ItemCitation(
                    item=item,
                    n=cited["n"],
                    toolkit_name=str(cited.get("toolkit", ""))[:200],
                    version_tag=str(cited.get("version_tag", ""))[:50],
                    heading_path=[str(h) for h in cited.get("heading_path") or []],
                    snippet=str(cited.get("snippet", "")),
                )
            )
    return snapshots


@dataclass(frozen=True)
class CitationState:
    """How the cited section reads in its toolkit's active version now."""

    state: str  # current | unchanged | changed | removed | unavailable | no_access
    active_version: str = ""

    @property
    def message(self) -> str:
        return {
            "current": "",
            "unchanged": f"Unchanged in the active version {self.active_version}.",
            "changed": f"This section has changed in the active version {self.active_version}.",
            "removed": f"This section is no longer in the active version {self.active_version}.",
            "unavailable": "This toolkit has no published version any more.",
            "no_access": NO_ACCESS,
        }[self.state]

    @property
    def needs_attention(self) -> bool:
        return self.state in ("changed", "removed", "unavailable", "no_access")

    @property
    def links(self) -> bool:
        """Whether the citation may link to its section: not once its reader lost access."""
        return self.state != "no_access"


# The plan keeps what it copied; only the way to the toolkit's current text is closed.
NO_ACCESS = "This section is no longer available to you: its toolkit is restricted to other groups."


def citation_states(citations: list[ItemCitation], viewer: Viewer) -> dict[int, CitationState]:
    """State per citation id for the plan's reader, in three queries whatever the number of
    citations: "no_access" for a toolkit the reader may no longer see (toolkit.access)."""
    toolkit_ids = {c.toolkit_id for c in citations if c.toolkit_id}
    visible = set(visible_toolkits(viewer).filter(pk__in=toolkit_ids).values_list("pk", flat=True))
    toolkit_ids &= visible
    active = {
        d.toolkit_id: d
        for d in ToolkitVersion.objects.filter(toolkit_id__in=toolkit_ids, is_active=True).only(
            "id", "toolkit_id", "version_tag"
        )
    }
    compare = [c for c in citations if c.toolkit_id in active and active[c.toolkit_id].pk != c.document_id]
    hashes, paths = set(), set()
    if compare:
        rows = Chunk.objects.filter(document__in=[d.pk for d in active.values()]).filter(
            Q(content_hash__in={c.content_hash for c in compare if c.content_hash})
            | Q(heading_path__in=[c.heading_path for c in compare])
        )
        for document_id, content_hash, heading_path in rows.values_list(
            "document_id", "content_hash", "heading_path"
        ):
            hashes.add((document_id, content_hash))
            paths.add((document_id, tuple(heading_path)))
    states = {}
    for citation in citations:
        document = active.get(citation.toolkit_id)
        if citation.toolkit_id and citation.toolkit_id not in visible:
            states[citation.pk] = CitationState("no_access")
        elif document is None:
            states[citation.pk] = CitationState("unavailable")
        elif document.pk == citation.document_id:
            states[citation.pk] = CitationState("current", document.version_tag)
        elif (document.pk, citation.content_hash) in hashes:
            states[citation.pk] = CitationState("unchanged", document.version_tag)
        elif (document.pk, tuple(citation.heading_path)) in paths:
            states[citation.pk] = CitationState("changed", document.version_tag)
        else:
            states[citation.pk] = CitationState("removed", document.version_tag)
    return states
