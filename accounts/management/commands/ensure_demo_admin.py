import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User


class Command(BaseCommand):
    help = "Create the demo admin account for local use (once; prints its password that time)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@example.com")

    def handle(self, *args, username: str, email: str, **options):
        if settings.IS_PROD:
            raise CommandError("Refusing to create a demo admin with ENV=prod; use createsuperuser.")
        if User.objects.filter(username__iexact=username).exists():
            self.stdout.write(
                f"Demo admin '{username}' already exists (its password was printed when it was "
                f"created; `python manage.py changepassword {username}` sets a new one)."
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email=email, password=password)
        self.stdout.write(f"Created demo admin: username '{username}', password '{password}' (shown once).")
