"""Who can sign in at the test provider and what it says about them, from the JSON file named by
PROVIDER_PEOPLE_FILE: {"username": {"password": ..., "email": ..., "email_verified": true,
"groups": [...]}}. Read at every sign-in and every token, so a test can change it in between."""

import json
import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from oauth2_provider.oauth2_validators import OAuth2Validator


def people() -> dict:
    return json.loads(Path(os.environ["PROVIDER_PEOPLE_FILE"]).read_text())


class PeopleBackend(ModelBackend):
    """Passwords from the people file; the provider's own user row (whose id is the `sub`) is made
    at the first sign-in."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        person = people().get(username or "")
        if person is None or person["password"] != password:
            return None
        user, _ = get_user_model().objects.get_or_create(username=username)
        return user


class PeopleValidator(OAuth2Validator):
    # The groups claim comes with the openid scope (in the ID token and userinfo), as many
    # providers send it; the standard claims keep their scopes.
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "openid"}

    def get_additional_claims(self, request):
        person = people()[request.user.username]
        return {
            "preferred_username": request.user.username,
            "email": person["email"],
            "email_verified": person["email_verified"],
            "groups": person.get("groups", []),
        }
