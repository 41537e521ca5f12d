import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models, transaction
from django.db.models import F, Q
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from pgvector.django import VectorField

from toolkit.chunking import ChunkDraft, content_hash

# PostgreSQL's text search configurations (stemming and stop words) that every version we
# support (15 and later) ships; `simple` only lowercases, for a language not in the list.
LANGUAGES = [
    ("simple", "Other (no stemming, no stop words)"),
    ("arabic", "Arabic"), ("danish", "Danish"), ("dutch", "Dutch"), ("english", "English"),
    ("finnish", "Finnish"), ("french", "French"), ("german", "German"), ("greek", "Greek"),
    ("hungarian", "Hungarian"), ("indonesian", "Indonesian"), ("irish", "Irish"),
    ("italian", "Italian"), ("lithuanian", "Lithuanian"), ("nepali", "Nepali"),
    ("norwegian", "Norwegian"), ("portuguese", "Portuguese"), ("romanian", "Romanian"),
    ("russian", "Russian"), ("spanish", "Spanish"), ("swedish", "Swedish"), ("tamil", "Tamil"),
    ("turkish", "Turkish"),
]  # fmt: skip


class RegConfigField(models.CharField):
    """A text search configuration's name stored as PostgreSQL's regconfig. The chunk's generated
    search_vector may only use immutable expressions: to_tsvector(regconfig, text) is one, while
    a cast from text to regconfig (a catalogue lookup) is not."""

    def db_type(self, connection) -> str:
        return "regconfig"


@RegConfigField.register_lookup
class RegConfigExact(models.lookups.Exact):
    # regconfig's = is oid's: a bare 'russian' would be read as a number.
    def process_rhs(self, compiler, connection):
        sql, params = super().process_rhs(compiler, connection)
        return f"{sql}::regconfig", params


class Access(models.TextChoices):
    SIGNED_IN = "signed_in", "Everyone signed in"
    GROUPS = "groups", "Only the chosen groups"


class Toolkit(models.Model):
    """A named family of documents, e.g. "Community Strategy Toolkit", with its versions."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    # How keyword search reads this toolkit's words and the questions put to it (stemming, stop
    # words): toolkit.ingestion.apply_language re-indexes existing chunks when it changes.
    language = models.CharField(
        max_length=20,
        choices=LANGUAGES,
        default="english",
        help_text="The language the toolkit is written in: keyword search stems its words and "
        "leaves out its stop words. Changing it re-indexes every version at once.",
    )
    # Who may read the toolkit (ask it, open its sections, cite it): toolkit.access says it once,
    # and toolkit.search applies it inside retrieval. An explicit choice rather than "restricted
    # iff groups are chosen", so removing the last group never makes a toolkit public.
    access = models.CharField(
        max_length=20,
        choices=Access.choices,
        default=Access.SIGNED_IN,
        db_default=Access.SIGNED_IN,
        help_text="Everyone signed in, or only members of the groups chosen below (with no group "
        "chosen, only staff). Staff always see every toolkit.",
    )
    groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="+",
        db_table="toolkit_access_groups",
        help_text="Who may read the toolkit when it is restricted to groups.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "toolkits"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def active_version(self) -> "ToolkitVersion | None":
        return self.versions.filter(is_active=True).first()


def stored_upload_name(instance: "ToolkitVersion", filename: str) -> str:
    """Uploaded files get a generated name: nothing the uploader chose reaches the filesystem."""
    return f"toolkits/{uuid.uuid4().hex}.docx"


class ToolkitVersion(models.Model):
    """One uploaded version of a toolkit (.docx) and the state of its ingestion."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    toolkit = models.ForeignKey(Toolkit, on_delete=models.CASCADE, related_name="versions")
    version_tag = models.CharField(max_length=50)
    title = models.CharField(max_length=300, blank=True)
    source_file = models.FileField(upload_to=stored_upload_name, max_length=200)
    original_filename = models.CharField(max_length=255, blank=True)
    file_size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, db_index=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)  # last made active: analytics before/after
    activate_when_ready = models.BooleanField(default=False)
    # What the last run did: embeddings computed vs reused from the cache, API calls made.
    embedding_model = models.CharField(max_length=200, blank=True)
    embeddings_computed = models.PositiveIntegerField(default=0)
    embeddings_reused = models.PositiveIntegerField(default=0)
    embedding_calls = models.PositiveIntegerField(default=0)
    # Corpus statistics for keyword ranking (BM25): chunks and their total indexed terms.
    chunk_count = models.PositiveIntegerField(default=0)
    term_total = models.PositiveBigIntegerField(default=0)
    # Sections added, removed and changed against the toolkit's previously active version.
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Runs started for this version since its last upload/retry; a worker that dies mid-run is
    # retried automatically once (see tasks.recover_abandoned_runs), not forever.
    attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "toolkit_documents"
        verbose_name = "toolkit version"
        ordering = ["toolkit__name", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["toolkit", "version_tag"], name="toolkit_documents_unique_version"
            ),
            models.UniqueConstraint(
                fields=["toolkit"], condition=Q(is_active=True), name="toolkit_documents_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.toolkit.name} {self.version_tag}"

    @property
    def display_title(self) -> str:
        return self.title or self.original_filename or str(self)

    def activate(self) -> None:
        """Make this ready version the one that answers questions for its toolkit."""
        if self.status != self.Status.READY:
            raise ValueError("Only a ready version can be made active.")
        versions = ToolkitVersion.objects
        with transaction.atomic():
            versions.filter(toolkit=self.toolkit_id, is_active=True).exclude(pk=self.pk).update(
                is_active=False
            )
            newly = versions.filter(pk=self.pk, is_active=False).update(
                is_active=True, activate_when_ready=False, activated_at=timezone.now()
            )
            if not newly:
                versions.filter(pk=self.pk).update(activate_when_ready=False)
        self.is_active = True

    def compare_with_active(self, drafts: list[ChunkDraft]) -> dict:
        """Sections added, removed and changed against the toolkit's active version (if another)."""
        active = (
            ToolkitVersion.objects.filter(toolkit=self.toolkit_id, is_active=True).exclude(pk=self.pk).first()
        )
        if active is None:
            return {}
        old = section_fingerprints(list(active.chunks.order_by("ordinal").values_list("heading", "text")))
        new = section_fingerprints([(draft.heading, draft.text) for draft in drafts])
        return {
            "against": active.version_tag,
            "added": [heading for heading in new if heading not in old],
            "removed": [heading for heading in old if heading not in new],
            "changed": [heading for heading in new if heading in old and new[heading] != old[heading]],
            "unchanged": sum(1 for heading in new if old.get(heading) == new[heading]),
        }


START_OF_DOCUMENT = "(start of document)"  # the section of text before any heading


def section_fingerprints(chunks: list[tuple[str, str]]) -> dict[str, str]:
    """Heading display → hash of that section's text, from (heading, text) pairs in order."""
    texts: dict[str, list[str]] = {}
    for heading, text in chunks:
        texts.setdefault(heading or START_OF_DOCUMENT, []).append(text)
    return {heading: content_hash("\n".join(parts)) for heading, parts in texts.items()}


@receiver(post_delete, sender=ToolkitVersion)
def delete_source_file(sender, instance: ToolkitVersion, **kwargs) -> None:
    """Deleting a version (one, in bulk, or with its toolkit) removes its stored file too."""
    if instance.source_file:
        instance.source_file.storage.delete(instance.source_file.name)


class Chunk(models.Model):
    """A passage of one toolkit version, under one heading path, ready to be retrieved."""

    document = models.ForeignKey(ToolkitVersion, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    heading_path = ArrayField(models.TextField(), default=list, blank=True)
    heading = models.TextField(blank=True)  # the path joined for display, e.g. "2 Planning > 2.3 Budget"
    text = models.TextField()
    token_count = models.PositiveIntegerField()
    block_start = models.PositiveIntegerField()  # first and last paragraph/table of the source
    block_end = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)  # sha256 of what is embedded (heading path + text)
    # Dimension-free column: EMBEDDING_DIMENSIONS can change without a migration; the HNSW index
    # is built on a cast to the configured dimension (toolkit/vector_index.py).
    embedding = VectorField(null=True, blank=True)
    # What the chunk belongs to, for keyword search only: its toolkit's name, and its version's
    # title when that differs (toolkit.ingestion.chunk_title). A generated column cannot read
    # another table, so it is stored here. Its words count as ordinary occurrences (weight C).
    title = models.TextField(blank=True, default="", db_default="")
    # Its toolkit's language when indexed (a generated column cannot read another table either).
    search_config = RegConfigField(max_length=20, default="english", db_default="english")
    search_vector = models.GeneratedField(
        expression=SearchVector("heading", weight="A", config=F("search_config"))
        + SearchVector("text", weight="B", config=F("search_config"))
        + SearchVector("title", weight="C", config=F("search_config")),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        db_table = "toolkit_chunks"
        ordering = ["document", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="toolkit_chunks_unique_ordinal")
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="toolkit_chunks_search_gin"),
            models.Index(fields=["content_hash"], name="toolkit_chunks_hash_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.document} #{self.ordinal} {self.heading}"


class TermStatistic(models.Model):
    """How many of a version's chunks hold each indexed term: BM25's document frequencies,
    summed over the versions searched instead of counted per question (which took most of a
    keyword search's time on large collections: bench/latency.py)."""

    document = models.ForeignKey(ToolkitVersion, on_delete=models.CASCADE, related_name="term_statistics")
    term = models.TextField()
    chunk_count = models.PositiveIntegerField()

    class Meta:
        db_table = "toolkit_term_stats"
        constraints = [models.UniqueConstraint(fields=["term", "document"], name="toolkit_term_stats_unique")]

    def __str__(self) -> str:
        return f"{self.term}: {self.chunk_count}"


class EmbeddingCache(models.Model):
    """Vectors by (model, dimensions, content hash): unchanged text is never embedded twice."""

    model = models.CharField(max_length=200)
    dimensions = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    embedding = VectorField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "toolkit_embedding_cache"
        verbose_name_plural = "embedding cache entries"
        constraints = [
            models.UniqueConstraint(
                fields=["model", "dimensions", "content_hash"], name="toolkit_embedding_cache_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.content_hash[:12]}"
