from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from rag import golden
from toolkit import ingestion, uploads
from toolkit.forms import VersionUploadForm
from toolkit.models import START_OF_DOCUMENT, Access, Chunk, Toolkit, ToolkitVersion
from toolkit.tasks import enqueue_ingestion

CHUNKS_SHOWN = 500
ERROR_SHOWN = 140  # characters of a failed run's reason in the list (the whole text is its tooltip)


def error_excerpt(error: str) -> str:
    return error[:ERROR_SHOWN] + ("…" if len(error) > ERROR_SHOWN else "")


@admin.register(Toolkit)
class ToolkitAdmin(admin.ModelAdmin):
    list_display = ["name", "language", "access_summary", "active_version", "version_count", "created_at"]
    list_filter = ["language", "access"]
    search_fields = ["name"]
    fields = ["name", "description", "language", "access", "groups"]
    filter_horizontal = ["groups"]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).annotate(version_count=Count("versions")).prefetch_related("groups")
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "name" in form.changed_data:  # every chunk is keyword-searchable by the name
            for version in obj.versions.all():
                ingestion.retitle_chunks(version)
        if change and "language" in form.changed_data:  # in the admin's transaction, row locked
            ingestion.apply_language(obj)
            self.message_user(
                request, f"Every version of {obj} is now searched in {obj.get_language_display()}."
            )

    @admin.display(description="who sees it")
    def access_summary(self, toolkit: Toolkit) -> str:
        if toolkit.access == Access.SIGNED_IN:
            return toolkit.get_access_display()
        names = [group.name for group in toolkit.groups.all()]
        return ", ".join(names) if names else "Staff only (no group chosen)"

    @admin.display(description="versions", ordering="version_count")
    def version_count(self, toolkit: Toolkit) -> int:
        return toolkit.version_count

    @admin.display(description="active version")
    def active_version(self, toolkit: Toolkit) -> str:
        active = toolkit.active_version
        return active.version_tag if active else "—"


@admin.register(ToolkitVersion)
class ToolkitVersionAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "title",
        "status_badge",
        "progress",
        "chunks",
        "is_active",
        "short_error",
        "created_at",
    ]
    list_filter = ["status", "is_active", "toolkit"]
    search_fields = ["title", "version_tag", "toolkit__name", "original_filename"]
    actions = ["retry_ingestion", "reindex_full", "reindex_embeddings", "make_active"]
    readonly_fields = [
        "toolkit", "version_tag", "original_filename", "file_size", "sha256", "uploaded_by", "status_badge",
        "progress", "error", "is_active", "embedding_model", "embedding_summary", "changes_summary",
        "created_at", "started_at", "finished_at", "golden_summary", "chunk_list",
    ]  # fmt: skip
    fieldsets = [
        (
            None,
            {"fields": ["toolkit", "version_tag", "title", "is_active", "status_badge", "progress", "error"]},
        ),
        ("Source", {"fields": ["original_filename", "file_size", "sha256", "uploaded_by", "created_at"]}),
        ("Indexing", {"fields": ["embedding_model", "embedding_summary", "started_at", "finished_at"]}),
        ("Changes against the previously active version", {"fields": ["changes_summary"]}),
        ("Golden questions", {"fields": ["golden_summary"]}),
        ("Sections", {"fields": ["chunk_list"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("toolkit")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = VersionUploadForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": VersionUploadForm.Meta.fields})]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except uploads.StorageFailed as error:
            # Raised inside the admin's transaction: the new toolkit row, if any, is rolled back.
            self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            if "title" in form.changed_data:  # chunks are keyword-searchable by the title
                ingestion.retitle_chunks(obj)
            return None
        data = form.cleaned_data
        with transaction.atomic():
            toolkit = data["toolkit"] or Toolkit.objects.create(
                name=data["new_toolkit_name"].strip(), language=data["new_toolkit_language"]
            )
            upload = data["source_file"]
            document = uploads.create_version(
                toolkit=toolkit,
                version_tag=data["version_tag"],
                stream=upload,
                filename=upload.name,
                title=data["title"],
                uploaded_by=request.user,
                activate=data["activate"],
                parsed=form.parsed,
            )
            enqueue_ingestion(document)
        obj.__dict__.update(document.__dict__)  # the admin goes on with `obj`: log entry, redirect

    def get_urls(self):
        progress = self.admin_site.admin_view(self.progress_view)
        return [path("progress/", progress, name="toolkit_toolkitversion_progress"), *super().get_urls()]

    def progress_view(self, request: HttpRequest) -> JsonResponse:
        """Status and progress of the given versions, polled by the list page while runs go on.

        Status and error text are what the version list shows: the same view permission is needed
        (admin_view alone lets any staff user in)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.strip().isdigit()][:200]
        rows = ToolkitVersion.objects.filter(pk__in=ids).only(
            "status", "progress_done", "progress_total", "error"
        )
        # The cells as the columns below render them, so the page's script copies no label or rule.
        return JsonResponse(
            {
                str(version.pk): {
                    "status": version.status,
                    "status_label": version.get_status_display(),
                    "progress_done": version.progress_done,
                    "progress_total": version.progress_total,
                    "error": version.error,
                    "short_error": error_excerpt(version.error),
                }
                for version in rows
            }
        )

    # --- columns ------------------------------------------------------------------------
    @admin.display(description="status", ordering="status")
    def status_badge(self, document: ToolkitVersion) -> str:
        return format_html(
            '<span class="ingest-status ingest-{}" data-document="{}" title="{}">{}</span>',
            document.status,
            document.pk,
            document.error,
            document.get_status_display(),
        )

    @admin.display(description="progress")
    def progress(self, document: ToolkitVersion) -> str:
        return format_html(
            '<span class="ingest-progress" data-document="{}">{}/{}</span>',
            document.pk,
            document.progress_done,
            document.progress_total,
        )

    @admin.display(description="error")
    def short_error(self, document: ToolkitVersion) -> str:
        return format_html(
            '<span class="ingest-error" data-document="{}">{}</span>',
            document.pk,
            error_excerpt(document.error),
        )

    @admin.display(description="chunks", ordering="chunk_count")
    def chunks(self, document: ToolkitVersion) -> int:
        return document.chunk_count  # stored when the version is indexed (also BM25's statistic)

    @admin.display(description="embeddings")
    def embedding_summary(self, document: ToolkitVersion) -> str:
        return (
            f"{document.embeddings_computed} computed, {document.embeddings_reused} reused from the cache, "
            f"{document.embedding_calls} API call(s)"
        )

    @admin.display(description="changes")
    def changes_summary(self, document: ToolkitVersion) -> str:
        changes = document.changes
        if not changes:
            return "First version of this toolkit (nothing to compare with)."
        parts = [
            format_html(
                "<p>Compared with {}: {} section(s) unchanged.</p>", changes["against"], changes["unchanged"]
            )
        ]
        for key, label in (("added", "Added"), ("changed", "Changed"), ("removed", "Removed")):
            if changes.get(key):
                items = format_html_join("", "<li>{}</li>", ((heading,) for heading in changes[key]))
                parts.append(format_html("<p>{} ({}):</p><ul>{}</ul>", label, len(changes[key]), items))
        return format_html_join("", "{}", ((part,) for part in parts))

    @admin.display(description="golden questions")
    def golden_summary(self, document: ToolkitVersion) -> str:
        return format_html(
            '{} <a href="{}">Compare with the active version, run, activate</a>',
            golden.summary(golden.compare(document)),
            reverse("admin:rag_golden_version", args=[document.pk]),
        )

    @admin.display(description="chunks")
    def chunk_list(self, document: ToolkitVersion) -> str:
        chunks = document.chunks.order_by("ordinal").values_list("ordinal", "heading", "token_count", "text")[
            :CHUNKS_SHOWN
        ]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((o, heading or START_OF_DOCUMENT, tokens, text[:160]) for o, heading, tokens, text in chunks),
        )
        more = document.chunk_count - CHUNKS_SHOWN
        note = format_html("<p>… and {} more.</p>", more) if more > 0 else ""
        return format_html(
            "<table><thead><tr><th>#</th><th>heading path</th><th>tokens</th><th>text</th></tr></thead>"
            "<tbody>{}</tbody></table>{}",
            rows,
            note,
        )

    # --- actions -----------------------------------------------------------------------
    @admin.action(description="Retry ingestion of the selected versions")
    def retry_ingestion(self, request, queryset):
        queued = 0
        for document in queryset.exclude(status=ToolkitVersion.Status.PROCESSING):
            enqueue_ingestion(document)
            queued += 1
        self.message_user(request, f"Queued {queued} version(s) for ingestion.")

    @admin.action(description="Reindex: parse, chunk and embed again")
    def reindex_full(self, request, queryset):
        self.retry_ingestion(request, queryset)

    @admin.action(description="Reindex embeddings only (after changing the embedding model)")
    def reindex_embeddings(self, request, queryset):
        ready = queryset.filter(status=ToolkitVersion.Status.READY)
        for document in ready:
            enqueue_ingestion(document, embeddings_only=True)
        self.message_user(request, f"Queued {ready.count()} version(s) for re-embedding.")

    @admin.action(description="Make active (answer questions from this version)")
    def make_active(self, request, queryset):
        for document in queryset:
            try:
                golden.activate(document, request.user)  # newly failing golden questions: confirm there
            except golden.RegressionsFound as found:
                page = reverse("admin:rag_golden_version", args=[document.pk])
                link = format_html('{} <a href="{}">See them and confirm</a>.', found, page)
                self.message_user(request, link, messages.ERROR)
            except ValueError as error:
                self.message_user(request, f"{document}: {error}", messages.ERROR)
            else:
                self.message_user(request, f"{document} is now the active version of {document.toolkit}.")


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["document", "ordinal", "heading", "token_count"]
    list_filter = ["document__toolkit", "document"]
    search_fields = ["heading", "text"]
    list_select_related = ["document__toolkit"]
    readonly_fields = [f.name for f in Chunk._meta.fields if f.name not in ("embedding", "search_vector")]
    exclude = ["embedding"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
