"""Citations on plan items: copied from toolkit chunks when added, compared with the active version later."""

from dataclasses import dataclass

from django.db.models import Q

from strategies.models import ItemCitation, PlanItem
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


def citations_from_answer(item: PlanItem, answer_citations: list[dict]) -> list[ItemCitation]:
    """Snapshot a chat answer's citations, keeping the answer's numbers so its [n] markers still match.

    Chunks deleted since the answer was given are kept as the answer showed them.
    """
    chunk_ids = [c.get("chunk_id") for c in answer_citations if isinstance(c.get("chunk_id"), int)]
    chunks = Chunk.objects.select_related("document__toolkit").in_bulk(chunk_ids)
    snapshots = []
    for cited in answer_citations:
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

    state: str  # current | unchanged | changed | removed | unavailable
    active_version: str = ""

    @property
    def message(self) -> str:
        return {
            "current": "",
            "unchanged": f"Unchanged in the active version {self.active_version}.",
            "changed": f"This section has changed in the active version {self.active_version}.",
            "removed": f"This section is no longer in the active version {self.active_version}.",
            "unavailable": "This toolkit has no published version any more.",
        }[self.state]

    @property
    def needs_attention(self) -> bool:
        return self.state in ("changed", "removed", "unavailable")


def citation_states(citations: list[ItemCitation]) -> dict[int, CitationState]:
    """State per citation id, in two queries whatever the number of citations."""
    toolkit_ids = {c.toolkit_id for c in citations if c.toolkit_id}
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
        if document is None:
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
