"""The chat model behind answers: the `openai` client, pointed by OPENAI_BASE_URL at OpenAI or
any OpenAI-compatible server (Ollama, vLLM). None when no chat backend is configured; answers
are then extractive."""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from django.conf import settings

logger = logging.getLogger(__name__)

LOST = "The connection to the language model was lost before the answer was complete."


class ChatError(RuntimeError):
    """The model failed (timeout, 429, 5xx, dropped stream); the message is fit for the user."""


@dataclass
class StreamEnd:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class OpenAIChat:
    def __init__(self, model: str):
        import openai

        self.model = model
        self.name = f"openai:{model}"
        self.client = openai.OpenAI(
            api_key=settings.OPENAI_API_KEY or "not-needed",
            base_url=settings.OPENAI_BASE_URL,
            timeout=settings.CHAT_TIMEOUT,
            max_retries=settings.CHAT_MAX_RETRIES,
        )

    def stream(self, messages: list[dict]) -> Iterator[str | StreamEnd]:
        """Yield text deltas, then one StreamEnd with token counts when the server reports them."""
        import openai

        end = StreamEnd()
        try:
            stream = self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                max_tokens=settings.CHAT_MAX_TOKENS,
                temperature=0.1,
            )
            finished = False
            for chunk in stream:
                if chunk.usage is not None:
                    end = StreamEnd(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content
                    finished = finished or choice.finish_reason is not None
            if not finished:  # the server closed the stream before saying it was done
                raise ChatError(LOST)
        except openai.APITimeoutError:
            raise ChatError(
                f"The language model did not answer within {settings.CHAT_TIMEOUT:g} seconds."
            ) from None
        except openai.RateLimitError:
            raise ChatError(
                "The language model is busy (rate limited). Please try again in a minute."
            ) from None
        except openai.APIStatusError as error:
            raise ChatError(f"The language model failed (HTTP {error.status_code}).") from None
        except ChatError:
            raise
        except Exception as error:  # dropped connections surface as the HTTP library's own errors
            logger.warning("chat stream failed: %s: %s", type(error).__name__, error)
            raise ChatError(LOST) from None
        yield end

    def complete(self, messages: list[dict]) -> str:
        """A short, whole answer (e.g. a rewritten question), through the same error handling."""
        return "".join(part for part in self.stream(messages) if isinstance(part, str)).strip()


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
