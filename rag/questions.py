"""A question, start to end: rewrite → retrieve → answer (streamed) → check citations → record.

`ask` is a generator of events, so the same code serves the streaming endpoint (each event
becomes a Server-Sent Event) and the plain JSON endpoint (which keeps only the last one).
Whatever fails — the model, the connection, the browser going away — the message is saved
with its error, and the user gets a clear message with the sources that were found.
"""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from rag.answering import (
    NOT_COVERED,
    chat_messages,
    check_citations,
    extractive_answer,
    is_relevant,
    number_sources,
)
from rag.models import Conversation, Message
from rag.providers import ChatError, StreamEnd, get_chat_model
from rag.retrieval import active_version_ids, retrieve
from rag.rewriting import rewrite_question

logger = logging.getLogger(__name__)

HISTORY_TURNS = 3


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


def ask(user, question: str, top_k: int, conversation: Conversation | None = None) -> Iterator[Event]:
    started = time.perf_counter()
    # One budget for every model call of this answer (a follow-up's rewrite, then the answer).
    deadline = time.monotonic() + settings.CHAT_DEADLINE
    if conversation is None:
        conversation = Conversation.objects.create(user=user, title=" ".join(question.split())[:80])
    history = list(
        conversation.messages.filter(answered=True)
        .order_by("-created_at")
        .values_list("query", "answer")[:HISTORY_TURNS]
    )[::-1]
    message = Message.objects.create(
        conversation=conversation, user=user, query=question, top_k=top_k, document_ids=active_version_ids()
    )
    yield Event("start", {"conversation_id": conversation.pk, "message_id": message.pk})

    sources = []
    parts: list[str] = []
    finished = False
    try:
        if history:
            release_connection()  # a follow-up may be rewritten by the model
        message.rewritten_query = rewrite_question(question, history, deadline)
        retrieval = retrieve(message.rewritten_query, top_k)
        message.retrieval_ms = retrieval.ms
        message.retrieval = [
            {
                "chunk_id": c.chunk_id,
                "score": round(c.score, 6),
                "keyword_rank": c.keyword_rank,
                "keyword_coverage": c.keyword_coverage,
                "vector_rank": c.vector_rank,
                "vector_similarity": c.vector_similarity,
            }
            for c in retrieval.chunks
        ]
        if not is_relevant(retrieval):
            message.backend = "refusal"
            parts.append(NOT_COVERED)
            message.first_token_ms = _ms(started)
            yield Event("token", {"text": NOT_COVERED})
        else:
            sources = number_sources(retrieval.chunks)
            model = get_chat_model()
            if model is None:
                message.backend, message.extractive = "extractive", True
                text = extractive_answer(message.rewritten_query, sources)
                parts.append(text)
                message.first_token_ms = _ms(started)
                yield Event("token", {"text": text})
            else:
                message.backend = model.name
                llm_started = time.perf_counter()
                release_connection()
                try:
                    for part in model.stream(chat_messages(message.rewritten_query, sources), deadline):
                        if isinstance(part, StreamEnd):
                            message.prompt_tokens, message.completion_tokens = (
                                part.prompt_tokens,
                                part.completion_tokens,
                            )
                            continue
                        if not parts:
                            message.first_token_ms = _ms(started)
                        parts.append(part)
                        yield Event("token", {"text": part})
                finally:
                    message.llm_ms = _ms(llm_started)
        answer, cited, removed = check_citations("".join(parts), sources)
        message.answer = answer
        message.answered = bool(sources) and message.backend != "refusal"
        message.citations = [source.citation() for source in cited]
        message.cited_chunk_ids = [source.chunk.chunk_id for source in cited]
        message.removed_citations = removed
        finished = True
    except ChatError as error:
        message.error = str(error)
        message.answer = "".join(parts)
        finished = True
    except Exception as error:  # the user gets a message, never a 500 or a hung stream
        logger.exception("answering message %s failed", message.pk)
        message.error = f"Something went wrong while answering ({type(error).__name__}). Please try again."
        message.answer = "".join(parts)
        finished = True
    finally:
        if not finished:  # the browser went away mid-answer (GeneratorExit)
            message.error = "The answer was interrupted: the browser disconnected."
            message.answer = "".join(parts)
        message.total_ms = _ms(started)
        message.save()
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())

    payload = final_payload(message, sources)
    yield Event("citations", {key: payload[key] for key in ("answer", "citations", "answered")})
    yield Event("final", payload)


def final_payload(message: Message, sources) -> dict:
    payload = {
        "answer": message.answer,
        "citations": message.citations,
        "answered": message.answered,
        "extractive": message.extractive,
        "conversation_id": message.conversation_id,
        "message_id": message.pk,
        "error": message.error or None,
    }
    if message.error:
        # The answer failed, but what retrieval found is still worth showing.
        payload["sources"] = [source.citation() for source in sources]
    return payload
