"""`Document` is now `ToolkitVersion` in code; its table stays `toolkit_documents`, so RenameModel
only changes Django's state (and the content type row, renamed by contenttypes after it).

Permission codenames follow the model name (`view_document` -> `view_toolkitversion`), and
Django does not rename them: without the step below, the next migrate would create new
permissions and every group or user given the old ones would silently lose access."""

import django.db.models.deletion
from django.db import migrations, models

ACTIONS = ("add", "change", "delete", "view")


def rename_permissions(apps, schema_editor, old: str, new: str) -> None:
    Permission = apps.get_model("auth", "Permission")
    for action in ACTIONS:
        stale = Permission.objects.filter(
            content_type__app_label="toolkit", codename=f"{action}_{old}"
        ).first()
        if stale is None:
            continue
        current = Permission.objects.filter(
            content_type__app_label="toolkit", codename=f"{action}_{new}"
        ).first()
        if current is None:
            stale.codename = f"{action}_{new}"
            stale.save(update_fields=["codename"])
        else:  # both exist (permissions were created in between): move the grants, drop the stale one
            for group in stale.group_set.all():
                group.permissions.add(current)
            for user in stale.user_set.all():
                user.user_permissions.add(current)
            stale.delete()


def forwards(apps, schema_editor):
    rename_permissions(apps, schema_editor, "document", "toolkitversion")


def backwards(apps, schema_editor):
    rename_permissions(apps, schema_editor, "toolkitversion", "document")


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("toolkit", "0007_term_document_frequencies"),
    ]

    operations = [
        migrations.RenameModel(old_name="Document", new_name="ToolkitVersion"),
        migrations.RunPython(forwards, backwards),
        migrations.AlterField(  # state only: `toolkit.versions` instead of `toolkit.documents`
            model_name="toolkitversion",
            name="toolkit",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="versions", to="toolkit.toolkit"
            ),
        ),
    ]
