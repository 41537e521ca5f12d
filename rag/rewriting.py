"""Follow-ups ("and who pays for it?"): the question that retrieval should search for.

With a chat model: the model rewrites it as a standalone question, given the last few exchanges.
Without one (or when the model fails), the question is never blindly glued to the previous one:
it is read two ways — alone, and in context (the previous question, as it was understood, and
the heading of the section it was answered from) — and rag.questions keeps the reading whose
passages support it better. A new, self-contained question is thus not dragged back to the old
topic, and "what is the second step?" after an answer from 4.1 is read as being about 4.1.
"""

import logging
import re
from dataclasses import dataclass

from rag.providers import ChatError, get_chat_model

logger = logging.getLogger(__name__)

PRONOUNS = re.compile(r"\b(it|its|they|them|their|this|that|these|those|he|she|there|one)\b", re.I)
FOLLOW_UP_START = re.compile(r"^\s*(and|also|but|what about|how about|so|then|or)\b", re.I)
CONTENT_WORD = re.compile(r"\b\w{4,}\b")
# A reply to the conversation rather than a new question ("No, I don't think I'm ready.").
REPLY = re.compile(
    r"^\W*(yes|yeah|yep|no|nope|not really|ok|okay|oh|sure|right|thanks|thank you|great|fine|i see)"
    r"(?:\s*[,.!]|\s*$)",  # "No, I'm not." is a reply; "Right to work checks?" is a question
    re.IGNORECASE,
)

CONTEXT_CHARS = 300

REWRITE_PROMPT = (
    "Rewrite the user's last question so that it can be understood without the conversation. "
    "Keep its meaning and language; add the topic it refers to. Reply with the question only."
)


@dataclass
class Turn:
    """An earlier, answered exchange of the conversation."""

    question: str
    understood_as: str  # the standalone question retrieval used (a follow-up's chosen reading)
    answer: str
    section: str  # the heading of the section the answer cited first ("" if none)


def looks_like_follow_up(question: str) -> bool:
    return bool(
        FOLLOW_UP_START.search(question)
        or PRONOUNS.search(question)
        or len(CONTENT_WORD.findall(question)) <= 2
    )


def is_reply(question: str) -> bool:
    return bool(REPLY.match(question))


def readings(question: str, history: list[Turn]) -> list[str]:
    """The ways to read the question without a model: alone first, then — when it leans on the
    conversation ("and …", a pronoun, a few words, a reply) — in the conversation's context. A
    self-contained question is only read alone, so it is never dragged back to the old topic."""
    if not history or not (looks_like_follow_up(question) or is_reply(question)):
        return [question]
    previous = history[-1]
    # The previous reading is capped (it grows along a chain of follow-ups), the question never is.
    context = f"{previous.understood_as[-CONTEXT_CHARS:]} {previous.section} {question}"
    return [question, context]


def rewrite_question(question: str, history: list[Turn], deadline: float | None = None) -> str | None:
    """The model's standalone version of a follow-up; None when no model is configured (the
    caller then compares `readings`). deadline: the time.monotonic() by which the whole answer
    must be done (the rewrite spends from it)."""
    model = get_chat_model()
    if model is None:
        return None
    if not history or not looks_like_follow_up(question):
        return question
    conversation = []
    for turn in history[-3:]:
        conversation += [
            {"role": "user", "content": turn.question},
            {"role": "assistant", "content": turn.answer[:1500]},
        ]
    try:
        rewritten = model.complete(
            [
                {"role": "system", "content": REWRITE_PROMPT},
                *conversation,
                {"role": "user", "content": question},
            ],
            deadline,
        )
    except ChatError as error:
        logger.warning("question rewrite failed, the question is read without the model: %s", error)
        return None
    return rewritten[:1000] if rewritten else question
