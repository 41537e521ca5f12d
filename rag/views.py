"""The chat page and its JSON API (auth, methods and body checks: `toolkitrag.api.json_api`)."""

import json
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from accounts.rate_limits import by_user_or_ip, per_minute, rate_limit
from rag.forms import AnswerRequest, FeedbackRequest, TitleRequest, askable_toolkits
from rag.models import Conversation, Feedback, Message
from rag.questions import Event, ask
from rag.rendering import for_viewer, message_html, with_urls
from rag.suggestions import example_questions
from toolkit.access import viewer_of
from toolkitrag.api import json_api

rag_rate_limit = rate_limit("rag-answer", per_minute("RATE_LIMIT_RAG_REQUESTS"), by_user_or_ip)


def _start_question(request: HttpRequest) -> Iterator[Event]:
    """Validate the request and start answering; raises BadRequest or Http404."""
    parsed = AnswerRequest.from_request(request)
    viewer = viewer_of(request.user)
    parsed.check_toolkits(viewer)
    conversation = None
    if parsed.conversation_id is not None:
        conversation = get_object_or_404(Conversation, pk=parsed.conversation_id, user=request.user)
    return ask(
        request.user, parsed.query, parsed.top_k, conversation, toolkit_ids=parsed.toolkits, viewer=viewer
    )


@json_api(["POST"])
@rag_rate_limit
def answer(request: HttpRequest) -> JsonResponse:
    """POST /api/rag/answer: the whole answer as one JSON object."""
    final = {}
    for event in _start_question(request):
        if event.name == "final":
            final = event.data
    return JsonResponse(final)


def sse(event: Event) -> bytes:
    return f"event: {event.name}\ndata: {json.dumps(event.data)}\n\n".encode()


def for_the_chat_page(events: Iterator[Event]) -> Iterator[Event]:
    """What the chat page needs on top of the answer: its conversation's URLs when it starts, and
    at the end the answer's HTML as the history renders it (the page swaps it in for the text)."""
    for event in events:
        if event.name == "start":
            conversation_id = event.data["conversation_id"]
            urls = {
                "conversation_url": reverse("conversation", args=[conversation_id]),
                "conversation_api_url": reverse("api-conversation", args=[conversation_id]),
            }
            event = Event(event.name, {**event.data, **urls})
        elif event.name == "final":
            message = Message.objects.select_related("feedback").get(pk=event.data["message_id"])
            html = message_html(message, event.data.get("sources"))
            event = Event(event.name, {**event.data, "html": html})
        yield event


@json_api(["POST"])
@rag_rate_limit
def answer_stream(request: HttpRequest) -> HttpResponse:
    """POST /api/rag/answer/stream: Server-Sent Events — start, tokens, then the checked answer."""
    events = _start_question(request)
    response = StreamingHttpResponse(
        (sse(event) for event in for_the_chat_page(events)), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # Nginx: pass each event on at once
    return response


@json_api(["GET"])
def conversation_list(request: HttpRequest) -> JsonResponse:
    conversations = Conversation.objects.filter(user=request.user).values("id", "title", "updated_at")[:200]
    return JsonResponse({"conversations": list(conversations)})


@json_api(["GET", "PATCH", "DELETE"])
def conversation_detail(request: HttpRequest, conversation_id: int) -> JsonResponse:
    conversation = get_object_or_404(Conversation, pk=conversation_id, user=request.user)
    if request.method == "DELETE":
        conversation.delete()
        return JsonResponse({"deleted": conversation_id})
    if request.method == "PATCH":
        conversation.title = TitleRequest.from_request(request).title
        conversation.save(update_fields=["title", "updated_at"])
    stored = list(conversation.messages.select_related("feedback"))
    shown = for_viewer([message.citations for message in stored], viewer_of(request.user))
    messages = [  # links built when shown, to the sections the user may still see
        {**message.to_dict(), "citations": with_urls(citations)}
        for message, citations in zip(stored, shown, strict=True)
    ]
    return JsonResponse({"id": conversation.pk, "title": conversation.title, "messages": messages})


@json_api(["POST"])
def feedback(request: HttpRequest, message_id: int) -> JsonResponse:
    message = get_object_or_404(Message, pk=message_id, user=request.user)
    rated = FeedbackRequest.from_request(request)
    saved, _ = Feedback.objects.update_or_create(
        message=message, defaults={"user": request.user, "rating": rated.score, "comment": rated.comment}
    )
    return JsonResponse({"message_id": message.pk, **saved.to_dict()})


@login_required
def chat(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    """The chat page; with an id, that conversation's history is shown to continue it."""
    conversation = None
    if conversation_id is not None:
        conversation = Conversation.objects.filter(pk=conversation_id, user=request.user).first()
        if conversation is None:
            raise Http404("No such conversation.")
    exchanges = list(conversation.messages.select_related("feedback")) if conversation else []
    viewer = viewer_of(request.user)
    shown = for_viewer([message.citations for message in exchanges], viewer)
    for message, citations in zip(exchanges, shown, strict=True):  # shown, never saved
        message.citations = citations
    toolkits = list(askable_toolkits(viewer).order_by("name"))
    context = {
        "conversation": conversation,
        "exchanges": exchanges,
        "conversations": Conversation.objects.filter(user=request.user)[:100],
        # Only the empty page shows examples (checked once, then cached: rag/suggestions.py).
        "examples": example_questions(viewer) if toolkits and not exchanges else [],
        "published": bool(toolkits),
        # More than one toolkit to answer from: the page lets the user choose which.
        "toolkits": toolkits,
    }
    return render(request, "rag/chat.html", context)
