"""A question, start to end: rewrite → retrieve → answer (streamed) → check citations → record.

`ask` is a generator of events, so the same code serves the streaming endpoint (each event
becomes a Server-Sent Event) and the plain JSON endpoint (which keeps only the last one).
Whatever fails — the model, the connection, the browser going away — the message is saved
with its error, and the user gets a clear message with the sources that were found.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from rag.answering import NOT_COVERED, Source, chat_messages, check_citations, number_sources
from rag.extractive import REFERENCE_WORDS, compose
from rag.models import Conversation, Message
from rag.providers import ChatError, StreamEnd, get_chat_model
from rag.relevance import Assessment, Support, assess, is_relevant
from rag.rendering import with_urls
from rag.retrieval import Retrieval, RetrievedChunk, retrieve
from rag.rewriting import Turn, is_reply, readings, rewrite_question
from toolkit.access import EVERY_TOOLKIT, Viewer, viewer_of
from toolkit.search import active_version_ids

logger = logging.getLogger(__name__)

HISTORY_TURNS = 3
CLOSEST_SECTIONS = 3  # offered with a refusal, to click through instead of rephrasing blindly


@dataclass
class Event:
    name: str  # start | token (many) | citations (the checked answer) | final (everything, ids)
    data: dict


def _ms(since: float) -> int:
    return round((time.perf_counter() - since) * 1000)


def release_connection() -> None:
    """Give the database connection back (to the pool) while this thread waits on the model:
    a streamed answer takes seconds, and the next query simply takes a connection again."""
    if not connection.in_atomic_block:  # never in the middle of a transaction (nor in tests)
        connection.close()


def ask(
    user,
    question: str,
    top_k: int,
    conversation: Conversation | None = None,
    toolkit_ids: list[int] | None = None,
    viewer: Viewer | None = None,
) -> Iterator[Event]:
    """Answer `question` from the active versions of every toolkit the user may see, or of those
    of `toolkit_ids` (toolkit.access: the user's view goes into every search statement; `viewer`
    when the caller has it already)."""
    started = time.perf_counter()
    viewer = viewer or viewer_of(user)
    # One budget for every model call of this answer (a follow-up's rewrite, then the answer).
    deadline = time.monotonic() + settings.CHAT_DEADLINE
    if conversation is None:
        conversation = Conversation.objects.create(user=user, title=" ".join(question.split())[:80])
    history = conversation_history(conversation)
    message = Message.objects.create(
        conversation=conversation,
        user=user,
        query=question,
        top_k=top_k,
        document_ids=active_version_ids(viewer, toolkit_ids),
    )
    yield Event("start", {"conversation_id": conversation.pk, "message_id": message.pk})

    sources: list[Source] = []
    parts: list[str] = []
    finished = False
    try:
        sources, answer_parts = find_answer_source(message, history, deadline, viewer)
        with closing(answer_parts):  # if the browser goes away, the source's own cleanup runs first
            for part in answer_parts:
                if not parts:
                    message.first_token_ms = _ms(started)
                parts.append(part)
                yield Event("token", {"text": part})
        check_answer(message, "".join(parts), sources)
        finished = True
    except ChatError as error:
        message.error = str(error)
        finished = True
    except Exception as error:  # the user gets a message, never a 500 or a hung stream
        logger.exception("answering message %s failed", message.pk)
        message.error = f"Something went wrong while answering ({type(error).__name__}). Please try again."
        finished = True
    finally:  # GeneratorExit too: the browser went away mid-answer
        record(message, parts, started, interrupted=not finished)

    payload = final_payload(message, sources)
    yield Event("citations", {key: payload[key] for key in ("answer", "citations", "answered")})
    yield Event("final", payload)


def answer_unrecorded(question: str, top_k: int, version_ids: list[int]) -> Message:
    """`ask`'s path (retrieval, gate, answer, citation check) for a question no user asked: the
    golden questions of rag/golden.py, put to `version_ids` (which need not be active). The
    message comes back unsaved, so it is in no chat log and no analytics. A failing chat model
    raises ChatError."""
    started = time.perf_counter()
    deadline = time.monotonic() + settings.CHAT_DEADLINE
    message = Message(query=question, top_k=top_k, document_ids=version_ids)
    # Staff-side: the version is tested whoever may read its toolkit.
    sources, answer_parts = find_answer_source(message, [], deadline, EVERY_TOOLKIT)
    with closing(answer_parts):
        text = "".join(answer_parts)
    check_answer(message, text, sources)
    message.total_ms = _ms(started)
    return message


def conversation_history(conversation: Conversation) -> list[Turn]:
    """The conversation's last exchanges, oldest first: a refused question still sets the topic
    (its first closest section stands for the section it was answered from), and so does a
    stopped or failed one that got as far as being understood."""
    rows = (
        conversation.messages.exclude(rewritten_query="")
        .order_by("-created_at")
        .values_list("query", "rewritten_query", "answer", "citations")[:HISTORY_TURNS]
    )
    return [
        Turn(query, rewritten or query, answer, first_heading(citations))
        for query, rewritten, answer, citations in reversed(rows)
    ]


def first_heading(citations: list[dict]) -> str:
    return (citations[0].get("heading_path") or [""])[-1] if citations else ""


def find_answer_source(
    message: Message, history: list[Turn], deadline: float, viewer: Viewer
) -> tuple[list[Source], Iterator[str]]:
    """Read the question (a follow-up in its context), retrieve, then choose who answers: nobody
    (not covered: the closest sections are offered), the passages themselves (no chat model), or
    the model. Returns the numbered sources, best-supported first, and the answer's text parts."""
    retrieval = understood_question(message, history, deadline, viewer)
    record_retrieval(message, retrieval)
    ordered = answer_passages(retrieval)
    if ordered is None:
        closest = closest_sections(retrieval.chunks)
        return number_sources(closest), not_covered(message, closest)
    sources = number_sources([support.chunk for support in ordered])
    model = get_chat_model()
    if model is None:
        return sources, extracted(message, assess(retrieval), list(zip(sources, ordered, strict=True)))
    return sources, generated(message, sources, model, deadline)


def understood_question(message: Message, history: list[Turn], deadline: float, viewer: Viewer) -> Retrieval:
    """The retrieval for the question as understood: the model's standalone rewrite of a
    follow-up, or without a model the better supported of its readings (rag/rewriting.py)."""
    if history:
        release_connection()  # a follow-up may be rewritten by the model
    rewritten = rewrite_question(message.query, history, deadline)
    queries = [rewritten] if rewritten is not None else readings(message.query, history)
    retrievals = [retrieve(q, message.top_k, message.document_ids, viewer=viewer) for q in queries]
    if len(retrievals) == 2 and is_reply(message.query):
        # "No, I'm not." answers the conversation: in its context, its words the toolkit never
        # uses do not count against the toolkit covering it.
        retrievals[1].unknown_term_weight = 0.0
    return better_supported(retrievals)


def record_retrieval(message: Message, retrieval: Retrieval) -> None:
    """What retrieval found and how well each passage supports an answer (for analytics and the
    benchmarks, which read the gate's signals back from here)."""
    message.rewritten_query = retrieval.query
    message.retrieval_ms = retrieval.ms
    supports = {s.chunk.chunk_id: s for s in assess(retrieval).supports}
    message.retrieval = [
        {
            "chunk_id": c.chunk_id,
            "support": round(supports[c.chunk_id].coverage, 6),
            "score": round(c.score, 6),
            "keyword_rank": c.keyword_rank,
            "vector_rank": c.vector_rank,
            "vector_similarity": c.vector_similarity,
        }
        for c in retrieval.chunks
    ]


def better_supported(retrievals: list[Retrieval]) -> Retrieval:
    """The question alone (first), or in the conversation's context: whichever passes the gate, and
    when both do, the one whose leading passage covers more of the question's own words — a tie
    goes to the context, since the conversation is evidence of what the question is about. The
    context never wins for a question whose own known words its leading passage lacks entirely
    ("and do volunteers need training?" asks about something the old section does not cover)."""
    alone, *in_context = retrievals
    if not in_context:
        return alone
    context = in_context[0]
    lead_in_context = assess(context).lead
    if not is_relevant(context) or lead_in_context is None:
        return alone
    own_words = assess(alone).weights
    # Words that point into the previous answer ("the second step") name no new topic.
    known_words = {
        t: w for t, w in own_words.items() if t not in assess(alone).unknown and t not in REFERENCE_WORDS
    }
    if known_words and lead_in_context.coverage_of(known_words) == 0:
        return alone
    lead_alone = assess(alone).lead
    if not is_relevant(alone) or lead_alone is None:
        return context
    # Like with like: what each reading would answer from (its lead) against the question's words.
    in_context = lead_in_context.coverage_of(own_words)
    return context if in_context >= lead_alone.coverage - 1e-9 else alone


def answer_passages(retrieval: Retrieval) -> list[Support] | None:
    """What an answer is made from: the retrieved chunks with the one that answers best first (its
    sentences cover most of the question), the others in retrieval order; None when the relevance
    gate refuses. The chat's example questions are checked with it too (rag/suggestions.py)."""
    if not is_relevant(retrieval):
        return None
    assessment = assess(retrieval)
    lead = assessment.lead
    return [lead] + [s for s in assessment.supports if s is not lead]


def closest_sections(chunks: list[RetrievedChunk]) -> list[RetrievedChunk]:
    """The first chunk of each of the first CLOSEST_SECTIONS sections retrieved."""
    by_section: dict[tuple, RetrievedChunk] = {}
    for chunk in chunks:
        by_section.setdefault((chunk.document_id, tuple(chunk.heading_path)), chunk)
    return list(by_section.values())[:CLOSEST_SECTIONS]


def not_covered(message: Message, chunks: list[RetrievedChunk]) -> Iterator[str]:
    message.backend = "refusal"
    if not chunks:
        yield NOT_COVERED
        return
    headings = [chunk.heading_path[-1] if chunk.heading_path else chunk.toolkit for chunk in chunks]
    listed = "; ".join(f"{heading} [{n}]" for n, heading in enumerate(headings, start=1))
    yield f"{NOT_COVERED} Closest sections: {listed}."


def extracted(
    message: Message, assessment: Assessment, numbered: list[tuple[Source, Support]]
) -> Iterator[str]:
    message.backend, message.extractive = "extractive", True
    (_, lead), *others = numbered
    # The user's own words choose an item ("the second step"), not the context they were read in.
    yield compose(message.query, assessment, lead, [(source.n, support) for source, support in others])


def generated(message: Message, sources: list[Source], model, deadline: float) -> Iterator[str]:
    message.backend = model.name
    llm_started = time.perf_counter()
    release_connection()
    try:
        for part in model.stream(chat_messages(message.rewritten_query, sources), deadline):
            if isinstance(part, StreamEnd):
                message.prompt_tokens, message.completion_tokens = part.prompt_tokens, part.completion_tokens
            else:
                yield part
    finally:
        message.llm_ms = _ms(llm_started)


def check_answer(message: Message, text: str, sources: list[Source]) -> None:
    """Keep only the citations that match a source; what is left is the answer. A refusal's
    citations are the closest sections offered, not sources: they are not counted as cited."""
    answer, cited, removed = check_citations(text, sources)
    message.answer = answer
    message.answered = bool(sources) and message.backend != "refusal"
    message.citations = [source.citation() for source in cited]
    message.cited_chunk_ids = [source.chunk.chunk_id for source in cited] if message.answered else []
    message.removed_citations = removed


def record(message: Message, parts: list[str], started: float, *, interrupted: bool) -> None:
    """Save the message, whatever happened; a failed answer keeps the text streamed so far."""
    if interrupted:
        message.error = "Stopped — partial answer: the answer was interrupted before it was complete."
    if message.error:
        message.answer = "".join(parts)
    message.total_ms = _ms(started)
    message.save()
    Conversation.objects.filter(pk=message.conversation_id).update(updated_at=timezone.now())


def final_payload(message: Message, sources) -> dict:
    payload = {
        "answer": message.answer,
        "citations": with_urls(message.citations),
        "answered": message.answered,
        "extractive": message.extractive,
        "conversation_id": message.conversation_id,
        "message_id": message.pk,
        "error": message.error or None,
    }
    if message.error:
        # The answer failed, but what retrieval found is still worth showing.
        payload["sources"] = with_urls([source.citation() for source in sources])
    return payload
