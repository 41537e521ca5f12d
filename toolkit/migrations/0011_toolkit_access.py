"""Who may read a toolkit: everyone signed in (every existing toolkit, as before) or only the
members of chosen groups (toolkit_access_groups). See toolkit/access.py."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("toolkit", "0010_toolkit_language"),
    ]

    operations = [
        migrations.AddField(
            model_name="toolkit",
            name="access",
            field=models.CharField(
                choices=[("signed_in", "Everyone signed in"), ("groups", "Only the chosen groups")],
                db_default="signed_in",
                default="signed_in",
                help_text="Everyone signed in, or only members of the groups chosen below (with no group chosen, only staff). Staff always see every toolkit.",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="toolkit",
            name="groups",
            field=models.ManyToManyField(
                blank=True,
                db_table="toolkit_access_groups",
                help_text="Who may read the toolkit when it is restricted to groups.",
                related_name="+",
                to="auth.group",
            ),
        ),
    ]
