"""The chat model behind answers: the `openai` client, pointed by OPENAI_BASE_URL at OpenAI or
any OpenAI-compatible server (Ollama, vLLM). None when no chat backend is configured; answers
are then extractive."""

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from django.conf import settings

logger = logging.getLogger(__name__)

LOST = "The connection to the language model was lost before the answer was complete."
UNREADABLE = "The language model sent a reply that could not be read."


class ChatError(RuntimeError):
    """The model failed (timeout, 429, 5xx, dropped stream); the message is fit for the user."""


@dataclass
class StreamEnd:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def retry_after_seconds(error) -> float | None:
    """The wait a 429/503 asks for (Retry-After-Ms or Retry-After in seconds), if any."""
    response = getattr(error, "response", None)
    if response is None:
        return None
    for header, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        try:
            return max(float(response.headers[header]) / divisor, 0.0)
        except (KeyError, ValueError):
            continue
    return None


class OpenAIChat:
    def __init__(self, model: str):
        import openai

        self.model = model
        self.name = f"openai:{model}"
        # Retries are ours (see `stream`): the client's would honour a Retry-After of up to two
        # minutes and hold a worker thread that long.
        self.client = openai.OpenAI(
            api_key=settings.OPENAI_API_KEY or "not-needed",
            base_url=settings.OPENAI_BASE_URL,
            timeout=settings.CHAT_TIMEOUT,
            max_retries=0,
        )

    def _open(self, messages: list[dict], deadline: float):
        """Start a streamed completion, retrying 429/5xx/connection failures while the deadline
        allows; a wait the deadline cannot afford fails now rather than holding the worker."""
        import openai

        attempt = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChatError(too_slow())
            try:
                return self.client.with_options(
                    timeout=min(settings.CHAT_TIMEOUT, left)
                ).chat.completions.create(
                    model=self.model,
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                    max_tokens=settings.CHAT_MAX_TOKENS,
                    temperature=0.1,
                )
            except openai.APITimeoutError:
                raise ChatError(timed_out(deadline)) from None
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as error:
                wait = retry_after_seconds(error)
                if wait is None:
                    wait = 0.5 * 2**attempt
                if attempt >= settings.CHAT_MAX_RETRIES or time.monotonic() + wait >= deadline:
                    raise ChatError(failure_message(error, wait)) from None
                logger.info("chat request failed (%s); retrying in %.1f s", type(error).__name__, wait)
                time.sleep(wait)
                attempt += 1
            except openai.APIStatusError as error:
                raise ChatError(failure_message(error, None)) from None

    def stream(self, messages: list[dict], deadline: float | None = None) -> Iterator[str | StreamEnd]:
        """Yield text deltas, then one StreamEnd with token counts when the server reports them.

        The whole answer, retries included, ends by CHAT_DEADLINE seconds (checked between
        chunks; a read that gets nothing gives up after CHAT_TIMEOUT), so no worker hangs on a
        slow or stalled model."""
        import httpx2  # the openai client's HTTP library
        import openai

        if deadline is None:  # time.monotonic() by which everything must be done
            deadline = time.monotonic() + settings.CHAT_DEADLINE
        end = StreamEnd()
        stream = self._open(messages, deadline)
        received = False
        try:
            finished = False
            for chunk in stream:
                if chunk.usage is not None:
                    end = StreamEnd(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices or ():
                    if choice.delta and choice.delta.content:
                        received = True
                        yield choice.delta.content
                    finished = finished or choice.finish_reason is not None
                if time.monotonic() > deadline and not finished:
                    raise ChatError(too_slow())
            if not finished:  # the server closed the stream before saying it was done
                raise ChatError(LOST if received else UNREADABLE)
        except (openai.APITimeoutError, httpx2.TimeoutException):
            raise ChatError(timed_out(deadline)) from None
        except openai.APIStatusError as error:  # an error event inside the stream
            raise ChatError(failure_message(error, None)) from None
        except ChatError:
            raise
        except (ValueError, TypeError, AttributeError, openai.APIResponseValidationError) as error:
            # JSON that does not parse, or chunks without the expected shape
            logger.warning("chat stream unreadable: %s: %s", type(error).__name__, error)
            raise ChatError(UNREADABLE) from None
        except Exception as error:  # dropped connections surface as the HTTP library's own errors
            logger.warning("chat stream failed: %s: %s", type(error).__name__, error)
            raise ChatError(LOST) from None
        finally:
            stream.close()  # hand the connection back (or drop it) whatever happened
        yield end

    def complete(self, messages: list[dict], deadline: float | None = None) -> str:
        """A short, whole answer (e.g. a rewritten question), through the same error handling."""
        return "".join(part for part in self.stream(messages, deadline) if isinstance(part, str)).strip()


def too_slow() -> str:
    return f"The language model did not finish within {settings.CHAT_DEADLINE:g} seconds."


def timed_out(deadline: float) -> str:
    """A read timed out: the deadline's (it capped the wait) or CHAT_TIMEOUT's."""
    if time.monotonic() >= deadline - 0.05:
        return too_slow()
    return f"The language model did not answer within {settings.CHAT_TIMEOUT:g} seconds."


def failure_message(error, wait: float | None) -> str:
    import openai

    if isinstance(error, openai.RateLimitError):
        later = f"in {math.ceil(wait)} seconds" if wait and wait >= 1 else "in a minute"
        return f"The language model is busy (rate limited). Please try again {later}."
    if isinstance(error, openai.APIConnectionError):
        return "The language model could not be reached. Please try again later."
    return f"The language model failed (HTTP {error.status_code})."


def get_chat_model() -> OpenAIChat | None:
    if settings.CHAT_BACKEND == "none":
        return None
    return _chat_model(
        settings.CHAT_MODEL, settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, settings.CHAT_TIMEOUT,
        settings.CHAT_MAX_RETRIES,
    )  # fmt: skip


@cache
def _chat_model(model: str, base_url, api_key: str, timeout: float, retries: int) -> OpenAIChat:
    # One client per configuration: it keeps its HTTP connections open between questions.
    return OpenAIChat(model)
