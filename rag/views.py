import json
from collections.abc import Callable, Iterator
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from accounts.rate_limits import by_user_or_ip, per_minute, rate_limit
from rag.forms import BadRequest, parse_answer_request, parse_feedback, parse_title
from rag.models import Conversation, Feedback, Message
from rag.questions import Event, ask
from rag.suggestions import example_questions


def api_login_required(view: Callable) -> Callable:
    """401 JSON for anonymous API calls (not a redirect to the login page)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"error": "Log in to use the API."}, status=401)
        return view(request, *args, **kwargs)

    return wrapper


def json_body(request: HttpRequest):
    if request.content_type != "application/json":
        raise BadRequest("Send JSON with Content-Type: application/json.")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise BadRequest(
            f"The request body is too large (at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)."
        ) from None
    try:
        return json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.") from None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.") from None


def bad_request(error: BadRequest) -> JsonResponse:
    return JsonResponse({"error": str(error)}, status=400)


rag_rate_limit = rate_limit("rag-answer", per_minute("RATE_LIMIT_RAG_REQUESTS"), by_user_or_ip)


def _start_question(request: HttpRequest) -> Iterator[Event]:
    """Validate the request and start answering; raises BadRequest or Http404."""
    parsed = parse_answer_request(json_body(request))
    conversation = None
    if parsed.conversation_id is not None:
        conversation = get_object_or_404(Conversation, pk=parsed.conversation_id, user=request.user)
    return ask(request.user, parsed.query, parsed.top_k, conversation)


@require_http_methods(["POST"])
@api_login_required
@rag_rate_limit
def answer(request: HttpRequest) -> JsonResponse:
    """POST /api/rag/answer: the whole answer as one JSON object."""
    try:
        events = _start_question(request)
    except BadRequest as error:
        return bad_request(error)
    final = {}
    for event in events:
        if event.name == "final":
            final = event.data
    return JsonResponse(final)


def sse(event: Event) -> bytes:
    return f"event: {event.name}\ndata: {json.dumps(event.data)}\n\n".encode()


@require_http_methods(["POST"])
@api_login_required
@rag_rate_limit
def answer_stream(request: HttpRequest) -> HttpResponse:
    """POST /api/rag/answer/stream: Server-Sent Events — start, tokens, then the checked answer."""
    try:
        events = _start_question(request)
    except BadRequest as error:
        return bad_request(error)
    response = StreamingHttpResponse((sse(event) for event in events), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # Nginx: pass each event on at once
    return response


@require_http_methods(["GET"])
@api_login_required
def conversation_list(request: HttpRequest) -> JsonResponse:
    conversations = Conversation.objects.filter(user=request.user).values("id", "title", "updated_at")[:200]
    return JsonResponse({"conversations": list(conversations)})


def message_json(message: Message) -> dict:
    feedback = getattr(message, "feedback", None)
    return {
        "id": message.pk,
        "query": message.query,
        "answer": message.answer,
        "answered": message.answered,
        "extractive": message.extractive,
        "citations": message.citations,
        "error": message.error or None,
        "created_at": message.created_at,
        "feedback": {"rating": "up" if feedback.rating > 0 else "down", "comment": feedback.comment}
        if feedback
        else None,
    }


@require_http_methods(["GET", "PATCH", "DELETE"])
@api_login_required
def conversation_detail(request: HttpRequest, conversation_id: int) -> JsonResponse:
    conversation = get_object_or_404(Conversation, pk=conversation_id, user=request.user)
    if request.method == "DELETE":
        conversation.delete()
        return JsonResponse({"deleted": conversation_id})
    if request.method == "PATCH":
        try:
            conversation.title = parse_title(json_body(request))
        except BadRequest as error:
            return bad_request(error)
        conversation.save(update_fields=["title", "updated_at"])
    messages = conversation.messages.select_related("feedback")
    return JsonResponse(
        {"id": conversation.pk, "title": conversation.title, "messages": [message_json(m) for m in messages]}
    )


@require_http_methods(["POST"])
@api_login_required
def feedback(request: HttpRequest, message_id: int) -> JsonResponse:
    message = get_object_or_404(Message, pk=message_id, user=request.user)
    try:
        rating, comment = parse_feedback(json_body(request))
    except BadRequest as error:
        return bad_request(error)
    Feedback.objects.update_or_create(
        message=message, defaults={"user": request.user, "rating": rating, "comment": comment}
    )
    return JsonResponse(
        {"message_id": message.pk, "rating": "up" if rating > 0 else "down", "comment": comment}
    )


@login_required
def chat(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    """The chat page; with an id, that conversation's history is shown to continue it."""
    conversation = None
    if conversation_id is not None:
        conversation = Conversation.objects.filter(pk=conversation_id, user=request.user).first()
        if conversation is None:
            raise Http404("No such conversation.")
    context = {
        "conversation": conversation,
        "exchanges": list(conversation.messages.select_related("feedback")) if conversation else [],
        "conversations": Conversation.objects.filter(user=request.user)[:100],
        "examples": example_questions(),
    }
    return render(request, "rag/chat.html", context)
