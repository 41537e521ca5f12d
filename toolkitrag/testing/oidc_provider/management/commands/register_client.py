from django.core.management.base import BaseCommand
from oauth2_provider.models import Application


class Command(BaseCommand):
    help = "Register (or update) the confidential RS256 client of the app under test."

    def add_arguments(self, parser):
        parser.add_argument("client_id")
        parser.add_argument("client_secret")
        parser.add_argument("redirect_uri")

    def handle(self, client_id, client_secret, redirect_uri, **options):
        Application.objects.filter(client_id=client_id).delete()
        Application.objects.create(
            name="ToolkitRAG under test",
            client_id=client_id,
            client_secret=client_secret,  # stored hashed by django-oauth-toolkit
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=redirect_uri,
            algorithm=Application.RS256_ALGORITHM,
            skip_authorization=True,  # no consent screen: the organisation's own app
        )
