"""The JSON API's one layer: who may call, which methods, what a body must look like, how errors read.

Every endpoint under /api/ is wrapped in `@json_api`: anonymous calls get a 401 in JSON (not a
redirect to the login page), other methods a 405, and any `BadRequest` a 400 with its sentence.
Views read the body with `SomeSchema.from_request(request)` once they have looked up the objects in
their URL: the body must be JSON sent as application/json, and is checked against a strict pydantic
schema (`Schema`: no "5" for 5, unknown fields refused), whose errors become one sentence for the
person who wrote the request.

Text that PostgreSQL cannot store is refused here, once, for every endpoint: a NUL character
(psycopg refuses it) or a lone surrogate ("\\ud800" is valid JSON but not valid Unicode, and
cannot be encoded as UTF-8), anywhere in the body or the query string. Before this layer each
endpoint checked what it remembered to, and the ones that forgot answered with a 500.
"""

import json
import re
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BadRequest(ValueError):
    """Bad input: the message is shown to the caller as {"error": message} with status 400."""


def unstorable_text_problem(text: str, name: str) -> str | None:
    """Why PostgreSQL cannot store this text (None if it can), naming the field it came from."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return f"{name} must not contain NUL characters."
    return f"{name} is not valid Unicode (it contains a lone surrogate, such as \\ud800)."


def check_storable(value: Any, name: str) -> None:
    """Raise BadRequest if any string in a parsed JSON value (keys included) cannot be stored.

    Iterative, so a deeply nested body cannot exhaust the stack here either.
    """
    pending = [value]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            problem = unstorable_text_problem(value, name)
            if problem:
                raise BadRequest(problem)
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def check_body_text(body: Any) -> None:
    """Name the top-level field whose value is unstorable, so the caller knows what to fix."""
    if isinstance(body, dict):
        check_storable(list(body.keys()), "A field name")
        for key, value in body.items():
            check_storable(value, f"'{key}'")
    else:
        check_storable(body, "The request body")


def check_query_string(request: HttpRequest) -> None:
    for key, values in request.GET.lists():
        check_storable(key, "The query string")
        check_storable(values, f"'{key}'")


def json_body(request: HttpRequest) -> Any:
    """The request's JSON body, parsed (once) and checked for unstorable text; raises BadRequest.

    Views read it after looking up the objects in their URL, so someone else's id is a 404 whatever
    the body says (the access sweep checks every route that way)."""
    if not hasattr(request, "_json_body"):
        request._json_body = _parse_json_body(request)
    return request._json_body


def _parse_json_body(request: HttpRequest) -> Any:
    if request.content_type != "application/json":
        raise BadRequest("Send JSON with Content-Type: application/json.")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise BadRequest(
            f"The request body is too large (at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)."
        ) from None
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.") from None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.") from None
    check_body_text(body)
    return body


def json_api(methods: Iterable[str]) -> Callable:
    """Wrap a JSON endpoint: 401 for anonymous callers, 405 for other methods, the query string
    checked; a `BadRequest` raised by the view (or by `json_body`, `Schema.from_request`) becomes a
    400 with its message."""
    allowed = [method.upper() for method in methods]

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return JsonResponse({"error": "Log in to use the API."}, status=401)
            if request.method not in allowed:
                response = JsonResponse({"error": f"Use {', '.join(allowed)}."}, status=405)
                response["Allow"] = ", ".join(allowed)
                return response
            try:
                check_query_string(request)
                return view(request, *args, **kwargs)
            except BadRequest as error:
                return JsonResponse({"error": str(error)}, status=400)

        wrapper.json_api = True  # the route sweep checks that every /api/ view has this layer
        return wrapper

    return decorator


def invalid(message: str) -> PydanticCustomError:
    """Raise this from a schema's validator: the message reaches the caller as written."""
    return PydanticCustomError("invalid", message.replace("{", "{{").replace("}", "}}"))


SchemaType = TypeVar("SchemaType", bound="Schema")

TYPE_SENTENCES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "list_type": "must be a list of integers",
    "bool_type": "must be true or false",
}


class Schema(BaseModel):
    """A request body: strict types (no "5" for 5, no true for 1), unknown fields refused.

    `messages` overrides the sentence for a field's missing or wrong-typed value.
    """

    model_config = ConfigDict(strict=True, extra="forbid")
    messages: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_request(cls: type[SchemaType], request: HttpRequest) -> SchemaType:
        return cls.parse(json_body(request))

    @classmethod
    def parse(cls: type[SchemaType], body: Any) -> SchemaType:
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        try:
            return cls.model_validate(body)
        except ValidationError as error:
            raise BadRequest(cls.sentence(error.errors(include_url=False))) from None

    @classmethod
    def sentence(cls, errors: list[dict]) -> str:
        """The first problem, as a sentence; unknown fields are named all at once, first."""
        unknown = [str(error["loc"][0]) for error in errors if error["type"] == "extra_forbidden"]
        if unknown:
            return f"Unknown field(s): {', '.join(sorted(unknown))}."
        error = errors[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "invalid":
            return error["msg"]
        if error["type"] == "too_long":
            return f"'{name}' has too many entries (at most {error['ctx']['max_length']})."
        if name in cls.messages:
            return cls.messages[name]
        if len(error["loc"]) > 1:  # an element of a list field
            return f"'{name}' must be a list of integers."
        if error["type"] == "missing":
            return f"'{name}' is required."
        return f"'{name}' {TYPE_SENTENCES.get(error['type'], 'is not valid')}."
