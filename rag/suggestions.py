"""Example questions for the chat's empty state, drawn from the active toolkits' headings."""

import re

from toolkit.models import Chunk

NUMBERING = re.compile(r"^[\dIVXivx.\-)\s]+")


def example_questions(limit: int = 4) -> list[str]:
    headings = (
        Chunk.objects.filter(document__is_active=True, document__status="ready")
        .exclude(heading="")
        .order_by("document_id", "ordinal")
        .values_list("heading_path", flat=True)[:200]
    )
    seen, examples = set(), []
    for path in headings:
        topic = NUMBERING.sub("", path[-1]).strip().rstrip(":?.")
        if len(path) < 2 or not topic or topic.lower() in seen or len(topic) > 60:
            continue  # leaf sections make concrete questions; top-level ones are too broad
        seen.add(topic.lower())
        examples.append(f"What does the toolkit say about {topic[0].lower() + topic[1:]}?")
    # Spread the picks across the toolkit rather than taking the first few sections.
    step = max(len(examples) // limit, 1)
    return examples[::step][:limit]
