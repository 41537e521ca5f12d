"""The small community toolkit most tests ask questions of, ingested through the real upload and
ingestion path, and a question answered from it through the real answer path."""

import io

from rag.models import Message
from rag.questions import ask
from toolkit import ingestion, uploads
from toolkit.models import Toolkit, ToolkitVersion
from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.docx_factory import make_docx

DEMO_DOCX = REPO_ROOT / "demo" / "community-resilience-toolkit.docx"

TOOLKIT = [
    ("h1", "1 Planning"),
    (
        "p",
        "Planning starts with a shared picture of local needs and assets in the neighbourhood. "
        "Walk the streets with residents, note what works and what is missing, and agree priorities.",
    ),
    ("h2", "1.1 Budget"),
    (
        "p",
        "The budget is reviewed every quarter by the treasurer. Unspent money returns to the reserve fund. "
        "Large purchases over five hundred pounds need the approval of two trustees "
        "before any order is placed.",
    ),
    ("h2", "1.2 Volunteers"),
    (
        "p",
        "Volunteers who visit residents carry identification and work in pairs where possible. "
        "New volunteers shadow an experienced member for their first three visits "
        "and complete safeguarding training.",
    ),
    ("h1", "2 Emergencies"),
    (
        "p",
        "In a flood, the coordinator opens the rest centre in the village hall and starts the phone tree. "
        "Sandbags are stored behind the church; the logistics lead holds the key and a list of volunteers.",
    ),
    ("h1", "3 Evaluation"),
    ("p", "Evaluate outcomes against the goals agreed in the planning stage, using resident surveys."),
]

# TOOLKIT in Russian, for the multilingual embeddings and the per-toolkit text search language.
RUSSIAN_TOOLKIT = [
    ("h1", "1 Планирование"),
    (
        "p",
        "Планирование начинается с общей картины местных нужд и ресурсов района. "
        "Пройдите по улицам вместе с жителями, отметьте, что работает и чего не хватает, "
        "и согласуйте приоритеты.",
    ),
    ("h2", "1.1 Бюджет"),
    (
        "p",
        "Казначей проверяет бюджет каждый квартал. Неизрасходованные деньги возвращаются в резервный фонд. "
        "Крупные покупки дороже пятисот фунтов требуют одобрения двух попечителей до оформления заказа.",
    ),
    ("h2", "1.2 Волонтёры"),
    (
        "p",
        "Волонтёры, которые навещают жителей, носят удостоверение и по возможности работают парами. "
        "Новые волонтёры первые три визита сопровождают опытного участника и проходят обучение по защите.",
    ),
    ("h1", "2 Чрезвычайные ситуации"),
    (
        "p",
        "Если река вышла из берегов, координатор открывает пункт временного размещения в сельском клубе "
        "и запускает телефонное оповещение. Мешки с песком хранятся за церковью; ключ у ответственного "
        "за логистику вместе со списком волонтёров.",
    ),
    ("h1", "3 Оценка"),
    ("p", "Оценивайте результаты по целям, согласованным на этапе планирования, с помощью опросов жителей."),
]


def ingest_toolkit(
    spec: list[tuple] = TOOLKIT,
    version: str = "v1",
    name: str = "Community Toolkit",
    activate: bool = True,
    language: str = "english",
) -> ToolkitVersion:
    """Upload `spec` as a version of the toolkit `name` (created in `language` if new) and ingest
    it now (no task queue)."""
    return ingest_docx(make_docx(spec), version, name, activate, language)


def ingest_demo_toolkit(version: str = "2026.1") -> ToolkitVersion:
    """The demo toolkit `make run` serves (a table of roles, lists, budget), ingested now."""
    return ingest_docx(DEMO_DOCX.read_bytes(), version, "Community Resilience Toolkit")


def ingest_docx(
    data: bytes, version: str, name: str, activate: bool = True, language: str = "english"
) -> ToolkitVersion:
    kit, _ = Toolkit.objects.get_or_create(name=name, defaults={"language": language})
    toolkit_version = uploads.create_version(
        toolkit=kit, version_tag=version, stream=io.BytesIO(data), filename="kit.docx", activate=activate
    )
    return ingestion.ingest(toolkit_version)


def answered(user, question: str = "How often is the budget reviewed?") -> Message:
    """Ask through the real answer path (extractive: no model configured) and return the record."""
    final = [event.data for event in ask(user, question, 5) if event.name == "final"][0]
    return Message.objects.get(pk=final["message_id"])


def restrict_toolkit(version: ToolkitVersion, *group_names: str) -> list:
    """Restrict the version's toolkit to the groups named (created if new); none named: staff only."""
    from django.contrib.auth.models import Group

    from toolkit.models import Access

    groups = [Group.objects.get_or_create(name=name)[0] for name in group_names]
    toolkit = version.toolkit
    toolkit.access = Access.GROUPS
    toolkit.save(update_fields=["access"])
    toolkit.groups.set(groups)
    return groups
