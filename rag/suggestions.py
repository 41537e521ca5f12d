"""Example questions for the chat's empty page.

They are made from the active toolkits' section headings, worded as a user would type them
("Recruiting and keeping volunteers" → "How do we recruit and keep volunteers?"), and each is
shown only once the current index answers it, from the section it was made from: the answer
pipeline's own decision (rag.retrieval.retrieve, then rag.questions.answer_passages: the relevance
gate and the passage the answer leads with, which must be in that section). Checking costs a
retrieval per candidate, so the checked list is cached until the active versions or the settings
that decide "answered" change.
"""

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from rag.questions import answer_passages
from rag.retrieval import retrieve
from toolkit.access import Viewer
from toolkit.models import Chunk, ToolkitVersion
from toolkit.search import scope_version_ids

logger = logging.getLogger(__name__)

LIMIT = 4
MAX_CHECKS = 12  # retrievals per computation, whatever the toolkits' size (a cache miss pays them)
MAX_TOPIC_CHARS = 60  # a longer heading makes a question nobody would type
CACHE_SECONDS = 6 * 60 * 60
FAILED_CACHE_SECONDS = 60  # a failed check is retried soon, but not by every page load meanwhile
# Settings that change which questions are answered, or from which passage: part of the cache key.
GATE_SETTINGS = (
    "RAG_MIN_SUPPORT",
    "RAG_UNKNOWN_TERM_WEIGHT",
    "RAG_GATE_VECTOR_WEIGHT",
    "RAG_MIN_HYBRID_SUPPORT",
    "EMBEDDING_BACKEND",
    "EMBEDDING_MODEL",
    "EMBEDDING_DIMENSIONS",
    "RAG_TOP_K",
    "RAG_VECTOR_WEIGHT",
    "RAG_HNSW_EF_SEARCH",
    "RAG_HNSW_EF_SEARCH_LARGE",
    "RAG_HNSW_LARGE_CHUNKS",
)

# A section number before the heading's words: never the first letter of a word ("Identifying",
# "X-ray safety"), nor a number that is part of the title ("24 hours a day").
NUMBERING = re.compile(
    r"""^\s*(?:
        \d{1,3}(?:\.\d{1,3})+\.?\)?          # 2.2 Identifying, 2.2. Identifying
      | \d{1,3}[.)]                          # 3) Budget, 1. Introduction
      | \d{1,3}(?=\s+[^\sa-z])               # 2 Planning
      | [A-Za-z](?:\.\d{1,3})+\.?\)?         # A.1 Contacts
      | (?:[IVXLC]+|[ivxlc]+|[A-Za-z])[.)]   # IV. Budget, A. Contacts, b) Costs
      | [IVXLC]+(?=\s*[-–—:]\s)              # II – Roles
    )(?:\s*[-–—:])?\s+""",
    re.VERBOSE,
)

# Sections that make vague questions ("What does the toolkit say about the introduction?").
GENERIC = {
    "introduction", "overview", "summary", "contents", "table of contents", "foreword", "preface",
    "appendix", "appendices", "annex", "glossary", "references", "bibliography", "index",
    "acknowledgements", "acknowledgments", "conclusion", "conclusions", "further reading",
}  # fmt: skip
DETERMINERS = {"the", "a", "an", "our", "your", "this", "these", "those", "its", "their", "my"}
# After an -ing word, these show it is a verb ("Working with…", "Building the team").
VERB_FOLLOWERS = DETERMINERS | {
    "with", "from", "in", "on", "for", "to", "into", "at", "by", "about", "after", "before",
    "during", "through", "up", "out", "off", "over", "around", "across", "back", "ahead",
    "people", "others", "everyone", "them", "it", "yourself", "ourselves",
}  # fmt: skip
# -ing words that, before a plain noun, usually name a thing: "Training materials", "Funding sources".
ING_NOUNS = {
    "training", "funding", "planning", "meeting", "housing", "building", "parking", "marketing",
    "fundraising", "networking", "working", "learning", "teaching", "listening", "steering", "warning",
    "starting", "operating", "accounting", "catering", "lighting", "heating", "booking", "waiting",
    "opening", "spending", "evening", "morning", "ceiling", "wellbeing", "something", "everything",
    "nothing", "anything",
}  # fmt: skip
# Plural nouns that a list answers: "Roles and responsibilities" → "What are the roles and …?"
LIST_NOUNS = {
    "roles", "responsibilities", "triggers", "steps", "stages", "phases", "options", "requirements",
    "principles", "aims", "objectives", "goals", "priorities", "costs", "benefits", "risks",
    "criteria", "duties", "tasks", "rules", "signs", "contacts", "actions", "lessons", "outcomes",
}  # fmt: skip
# First words of noun phrases that take no "the": "What does the toolkit say about data protection?"
MASS_NOUNS = {
    "data", "health", "safety", "insurance", "information", "communication", "communications",
    "governance", "leadership", "accessibility", "equipment", "first", "money", "transport", "food",
}  # fmt: skip
WH_WORDS = {"how", "what", "when", "where", "who", "why", "which"}
AUXILIARIES = {"is", "are", "should", "can", "must", "will", "could", "would", "may", "does", "do"}

# The base form of an -ing word: "recruiting" → "recruit", "mapping" → "map", "writing" → "write".
# Spelling rules cover most verbs; the stems they get wrong are listed.
STEM_EXCEPTIONS = {
    "add": "add", "writ": "write", "creat": "create", "invit": "invite", "unit": "unite", "cit": "cite",
    "vot": "vote", "quot": "quote", "promot": "promote", "not": "note", "complet": "complete",
    "delet": "delete", "compet": "compete", "shap": "shape", "scop": "scope", "cop": "cope",
    "typ": "type", "escap": "escape", "hop": "hope", "stor": "store", "explor": "explore",
    "restor": "restore", "ignor": "ignore", "scor": "score", "guid": "guide", "persuad": "persuade",
    "chang": "change", "arrang": "arrange", "exchang": "exchange", "challeng": "challenge",
    "focus": "focus", "controll": "control", "patroll": "patrol", "enroll": "enrol",
}  # fmt: skip
SILENT_E = re.compile(
    r"""(?:[cvzu]                        # produce, involve, organize, continue
      | [dr]g                            # judge, emerge
      | [^aeiou][aeiou][bdgkm]           # describe, provide, manage, make, welcome
      | (?:[^aeiou]|[iu])at | [^aeiou]ut  # communicate, negotiate, evaluate, execute
      | [^aeiou]in                       # define, combine
      | (?:[^aeiou]|qu)[aiu]r            # prepare, require, ensure
      | [^aeiou][aiu]l | [^aeiouwrl]l    # schedule, compile, handle, enable
      | [^s]s                            # use, raise, close, nurse
    )$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Section:
    version_id: int
    heading_path: tuple[str, ...]


@dataclass(frozen=True)
class Example:
    question: str
    section: Section  # where its answer comes from


@dataclass(frozen=True)
class Candidate:
    section: Section
    questions: list[str]  # ways to ask about it, preferred first; the first that passes is shown


class CheckFailed(Exception):
    """The index could not be asked the way users are answered now (e.g. no vector search)."""


def example_questions(viewer: Viewer, version_ids: list[int] | None = None, limit: int = LIMIT) -> list[str]:
    """Up to `limit` questions that the active versions the viewer sees (or `version_ids`) answer,
    each from the section it was made from; fewer, or none, when not enough pass or the check
    fails. The cache key names the versions, so viewers who see the same ones share an entry and
    no example is ever made from a toolkit its viewer cannot see."""
    version_ids = scope_version_ids(viewer, version_ids)  # what the viewer's questions search
    if not version_ids:
        return []
    key = cache_key(version_ids, limit)
    examples = cache.get(key)
    if examples is not None:
        return examples
    if not cache.add(f"{key}:checking", True, FAILED_CACHE_SECONDS):
        return []  # another request is checking them now: this page goes without, not twice the work
    try:
        # No transaction around it: the check waits on the embedding server, and a pooled
        # connection must not sit in an open transaction meanwhile.
        examples = [example.question for example in checked_examples(version_ids, limit, viewer=viewer)]
    except Exception as error:  # the chat page is shown without examples, never as an error
        # A failed check (the embedding server down) is expected; anything else is a bug: traceback.
        logger.warning(
            "example questions were not checked, none are shown: %s",
            error,
            exc_info=not isinstance(error, CheckFailed),
        )
        cache.set(key, [], FAILED_CACHE_SECONDS)
        return []
    cache.set(key, examples, CACHE_SECONDS)
    cache.delete(f"{key}:checking")
    return examples


def cache_key(version_ids: list[int], limit: int) -> str:
    """Changes with the active versions (a reindex too: it sets finished_at) and the gate settings."""
    versions = ToolkitVersion.objects.filter(pk__in=version_ids).order_by("pk")
    stamps = [(pk, str(finished)) for pk, finished in versions.values_list("pk", "finished_at")]
    gate = [getattr(settings, name) for name in GATE_SETTINGS]
    digest = hashlib.sha256(repr((stamps, gate, limit)).encode()).hexdigest()
    return f"chat-examples:{digest}"


def checked_examples(version_ids: list[int], limit: int = LIMIT, *, viewer: Viewer) -> list[Example]:
    """Candidates in order, each shown in the first wording `is_answered`, until `limit` pass or
    MAX_CHECKS retrievals are spent."""
    examples: list[Example] = []
    checks = 0
    for candidate in candidates(version_ids):
        for question in candidate.questions:
            if len(examples) == limit or checks == MAX_CHECKS:
                return examples
            checks += 1
            if is_answered(question, candidate.section, version_ids, viewer):
                examples.append(Example(question, candidate.section))
                break
    return examples


def is_answered(question: str, section: Section, version_ids: list[int], viewer: Viewer) -> bool:
    """The pipeline's own decision: answered (not refused), and led by a passage of `section`, so
    that an example never leads to a different one."""
    retrieval = retrieve(question, settings.RAG_TOP_K, version_ids, viewer=viewer)
    if retrieval.notes:  # e.g. the embedding server is down: this is not how users are answered
        raise CheckFailed("; ".join(retrieval.notes))
    passages = answer_passages(retrieval)
    if passages is None:
        return False
    lead = passages[0].chunk
    return Section(lead.document_id, tuple(lead.heading_path)) == section


def candidates(version_ids: list[int]) -> Iterator[Candidate]:
    """The sections that make a question, in `sections_to_try` order, each asked once."""
    seen: set[str] = set()
    for section in sections_to_try(version_ids):
        questions = [q for q in questions_for(section.heading_path[-1]) if q.lower() not in seen]
        seen.update(q.lower() for q in questions)
        if questions:
            yield Candidate(section, questions)


def sections_to_try(version_ids: list[int]) -> list[Section]:
    """Leaf sections first (they make concrete questions), spread across the toolkits' chapters;
    then the chapters' own introductions. Sections under a generic heading are left out."""
    paths = (
        Chunk.objects.filter(document_id__in=version_ids)
        .exclude(heading_path=[])
        .order_by("document_id", "ordinal")
        .values_list("document_id", "heading_path")
    )
    sections = list(dict.fromkeys(Section(version_id, tuple(path)) for version_id, path in paths))
    parents = {(s.version_id, s.heading_path[:i]) for s in sections for i in range(1, len(s.heading_path))}
    leaves: dict[tuple, list[Section]] = {}
    inner: dict[tuple, list[Section]] = {}
    for section in sections:
        if any(strip_numbering(heading).lower() in GENERIC for heading in section.heading_path):
            continue
        chapter = (section.version_id, section.heading_path[0])
        is_leaf = (section.version_id, section.heading_path) not in parents
        (leaves if is_leaf else inner).setdefault(chapter, []).append(section)
    return round_robin(spread(list(leaves.values()))) + round_robin(spread(list(inner.values())))


def spread(groups: list, first: int = LIMIT) -> list:
    """`groups` reordered so that the first `first` are evenly spaced through them (beginning,
    middle, end rather than the first few), the others after them in their order."""
    if not groups:
        return []
    picks = list(dict.fromkeys(i * len(groups) // first for i in range(first)))
    return [groups[i] for i in picks] + [g for i, g in enumerate(groups) if i not in picks]


def round_robin(groups: list[list[Section]]) -> list[Section]:
    """The first section of each group, then the second of each, and so on."""
    longest = max((len(group) for group in groups), default=0)
    return [group[i] for i in range(longest) for group in groups if i < len(group)]


def strip_numbering(heading: str) -> str:
    """'2.2 Identifying vulnerable residents' → 'Identifying vulnerable residents'."""
    return NUMBERING.sub("", heading, count=1).strip()


def questions_for(heading: str) -> list[str]:
    """Questions a user would type about the section `heading`, preferred first (none for some).

    A topic named by a noun phrase gets a second, shorter wording: words such as "toolkit" and
    "say" that the section does not contain can leave keyword search below its threshold.
    """
    question = question_for(heading)
    if question is None:
        return []
    about = question.removeprefix("What does the toolkit say about ")
    return [question, f"What about {about}"] if about != question else [question]


def question_for(heading: str) -> str | None:
    """The question a user would type about the section `heading`, or None if it makes none."""
    original = strip_numbering(heading)
    if original.endswith("?"):
        return original if len(original) <= MAX_TOPIC_CHARS else None
    topic = original.rstrip(":.").strip()
    words = topic.split()
    if not words or len(topic) > MAX_TOPIC_CHARS or topic.lower() in GENERIC or not topic[0].isalpha():
        return None
    if len(words) == 1 or not words[1][:1].isupper():  # "Budget", "Community rest centre"
        words[0] = lowercase_first(words[0])  # (a Title Case heading keeps its capitals)
    first, second = words[0].lower(), (words[1].lower() if len(words) > 1 else "")
    if first in WH_WORDS:
        return wh_question(words)
    if is_verb_ing(words):
        return f"How do we {' '.join(to_base_forms(words))}?"
    if second in DETERMINERS:  # an instruction: "Map the hazards"
        return f"How do we {' '.join(our(words))}?"
    phrase = " ".join(words)
    if words[-1].lower() in LIST_NOUNS:
        return f"What are {phrase}?" if first in DETERMINERS else f"What are the {phrase}?"
    bare = first in DETERMINERS or first in MASS_NOUNS or first.endswith("ing") or words[-1].endswith("s")
    return f"What does the toolkit say about {phrase if bare else 'the ' + phrase}?"


def lowercase_first(word: str) -> str:
    """'Budget' → 'budget', but acronyms keep their capitals ('CCTV')."""
    return word if word[1:2].isupper() else word[:1].lower() + word[1:]


def our(words: list[str]) -> list[str]:
    """The toolkit says "your", the user asks about "our"."""
    return ["our" if word.lower() == "your" else word for word in words]


def wh_question(words: list[str]) -> str | None:
    """'How to use this toolkit' → 'How do we use this toolkit?'; 'What the plan should include'
    → 'What should the plan include?'; None when there is no simple way to ask it."""
    wh = words[0].capitalize()
    rest = our(words[1:])
    if len(rest) >= 2 and rest[0].lower() == "to":
        return f"{wh} do we {' '.join(rest[1:])}?"
    auxiliary = next((i for i, word in enumerate(rest) if word.lower() in AUXILIARIES), None)
    if auxiliary is None:
        return None
    if auxiliary == 0:  # already a question: "What is a hazard"
        return f"{wh} {' '.join(rest)}?"
    moved = [rest[auxiliary], *rest[:auxiliary], *rest[auxiliary + 1 :]]
    return f"{wh} {' '.join(moved)}?"


def is_verb_ing(words: list[str]) -> bool:
    """Whether the heading starts with a verb's -ing form ("Mapping hazards") rather than a
    noun ("Training materials", or a one-word topic such as "Fundraising")."""
    first = words[0].lower()
    if not first.endswith("ing") or len(first) < 5 or not re.search(r"[aeiouy]", first[:-3]):
        return False
    if len(words) == 1:
        return False
    second = words[1].lower()
    if first in ING_NOUNS:
        joined = second in ("and", "or") and len(words) > 2 and is_verb_ing(words[2:])
        return second in VERB_FOLLOWERS or joined
    return second not in ("and", "or") or (len(words) > 2 and words[2].lower().endswith("ing"))


def to_base_forms(words: list[str]) -> list[str]:
    """'Recruiting and keeping volunteers' → 'recruit and keep volunteers' (and "your" → "our")."""
    words = our(words)
    result = [base_form(words[0])]
    rest = words[1:]
    if len(rest) >= 2 and rest[0].lower() in ("and", "or") and rest[1].lower().endswith("ing"):
        result += [rest[0], base_form(rest[1])]
        rest = rest[2:]
    return result + rest


def base_form(word: str) -> str:
    stem = word.lower()[:-3]
    if stem in STEM_EXCEPTIONS:
        return STEM_EXCEPTIONS[stem]
    if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsfz":
        return stem[:-1]  # mapping → map, planning → plan
    if len(stem) > 5 and stem.endswith("ell"):
        return stem[:-1]  # travelling → travel
    if SILENT_E.search(stem):
        return stem + "e"
    return stem
