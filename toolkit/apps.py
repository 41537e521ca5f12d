from django.apps import AppConfig


class ToolkitConfig(AppConfig):
    name = "toolkit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from toolkit import keyword_index  # noqa: F401 - its receiver deletes an index with its version
