"""Validation of the JSON API's input: every bad value gets a 400 with a sentence saying why."""

from dataclasses import dataclass

from django.conf import settings


class BadRequest(ValueError):
    pass


@dataclass
class AnswerRequest:
    query: str
    top_k: int
    conversation_id: int | None


def _integer(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"'{name}' must be an integer.")
    return value


def parse_answer_request(body) -> AnswerRequest:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    unknown = set(body) - {"query", "top_k", "conversation_id"}
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    query = body.get("query")
    if not isinstance(query, str):
        raise BadRequest("'query' is required and must be a string.")
    query = query.strip()
    if not query:
        raise BadRequest("'query' must not be empty.")
    if len(query) > settings.RAG_MAX_QUERY_CHARS:
        raise BadRequest(f"'query' is too long (at most {settings.RAG_MAX_QUERY_CHARS} characters).")
    top_k = body.get("top_k", settings.RAG_TOP_K)
    top_k = _integer(top_k, "top_k")
    if not 1 <= top_k <= 20:
        raise BadRequest("'top_k' must be between 1 and 20.")
    conversation_id = body.get("conversation_id")
    if conversation_id is not None:
        conversation_id = _integer(conversation_id, "conversation_id")
    return AnswerRequest(query=query, top_k=top_k, conversation_id=conversation_id)


def parse_feedback(body) -> tuple[int, str]:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    rating = body.get("rating")
    if rating not in ("up", "down"):
        raise BadRequest("'rating' must be 'up' or 'down'.")
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        raise BadRequest("'comment' must be a string.")
    if len(comment) > 2000:
        raise BadRequest("'comment' is too long (at most 2000 characters).")
    return (1 if rating == "up" else -1), comment.strip()


def parse_title(body) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("title"), str):
        raise BadRequest("'title' is required and must be a string.")
    title = " ".join(body["title"].split())
    if not title:
        raise BadRequest("'title' must not be empty.")
    return title[:200]
