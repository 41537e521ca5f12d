"""Turn a follow-up ("and who pays for it?") into a standalone question before retrieval.

With a chat model: ask it, given the last few exchanges. Without one (or when it fails): a
rule — a short question, or one leaning on a pronoun, is read together with the previous one.
"""

import logging
import re

from rag.providers import ChatError, get_chat_model

logger = logging.getLogger(__name__)

PRONOUNS = re.compile(r"\b(it|its|they|them|their|this|that|these|those|he|she|there|one)\b", re.I)
FOLLOW_UP_START = re.compile(r"^\s*(and|also|but|what about|how about|so|then|or)\b", re.I)
CONTENT_WORD = re.compile(r"\b\w{4,}\b")

REWRITE_PROMPT = (
    "Rewrite the user's last question so that it can be understood without the conversation. "
    "Keep its meaning and language; add the topic it refers to. Reply with the question only."
)


def looks_like_follow_up(question: str) -> bool:
    return bool(
        FOLLOW_UP_START.search(question)
        or PRONOUNS.search(question)
        or len(CONTENT_WORD.findall(question)) <= 2
    )


def rule_based_rewrite(question: str, previous_questions: list[str]) -> str:
    if not previous_questions or not looks_like_follow_up(question):
        return question
    return f"{previous_questions[-1]} {question}"[:1000]


def rewrite_question(question: str, history: list[tuple[str, str]], deadline: float | None = None) -> str:
    """history: earlier (question, answer) pairs of this conversation, oldest first; deadline: the
    time.monotonic() by which the whole answer must be done (the rewrite spends from it)."""
    if not history:
        return question
    model = get_chat_model()
    if model is None or not looks_like_follow_up(question):
        return rule_based_rewrite(question, [q for q, _ in history])
    conversation = []
    for asked, answered in history[-3:]:
        conversation += [
            {"role": "user", "content": asked},
            {"role": "assistant", "content": answered[:1500]},
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
        logger.warning("question rewrite fell back to the rule: %s", error)
        return rule_based_rewrite(question, [q for q, _ in history])
    return rewritten[:1000] if rewritten else question
