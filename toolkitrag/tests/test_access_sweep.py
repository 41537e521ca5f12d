"""Every URL pattern of the project, discovered from the URL resolver (new views are swept
automatically), requested with every method as an anonymous visitor, as a second user, as a user
outside the group a toolkit is restricted to, as a staff member without permissions, as a user made
by a first single sign-on, and with the second user's API token (a Bearer header, no session; on
/api/rag/ and /api/plans/ it is the second user, elsewhere nobody): no 5xx, none of the first
user's data (nor their token) in any response, nothing of the restricted toolkit for anyone
outside its group (its section ids give 404), staff pages closed, other people's object ids give
403/404, and none of the first user's rows change. Each role prints how many URL × method
combinations it requested.

A new kind of URL parameter fails the sweep until it is told which object to put there.
"""

import json

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.api_tokens import issue_token
from accounts.bearer_auth import TOKEN_PATHS
from accounts.models import ApiToken
from accounts.sso_accounts import user_for_claims
from rag.models import Conversation, Feedback, Message
from strategies.models import PlanItem, StrategyPlan
from toolkit.models import Chunk, ToolkitVersion
from toolkitrag.testing.url_sweep import all_routes, fill
from toolkitrag.tests.conftest import RESTRICTED_QUESTION

pytestmark = pytest.mark.django_db

PUBLIC = {"", "health", "ready", "auth/register", "auth/login", "auth/logout", "admin/login/",
          "admin/logout/", "admin/jsi18n/", "auth/register/<str:token>", "auth/invite/<str:token>",
          "auth/password_reset", "auth/password_reset/done", "auth/reset/<uidb64>/<token>",
          "auth/reset/done", "auth/sso/start", "auth/sso/callback"}  # fmt: skip
SHARED_CONTENT = {"toolkit/source/<int:chunk_id>"}  # an open toolkit: every signed-in user reads it


def snapshot(owner) -> list:
    return [
        list(Conversation.objects.filter(user=owner).values_list("pk", "title")),
        list(Message.objects.filter(user=owner).values_list("pk", "query", "answer")),
        list(Feedback.objects.filter(user=owner).values_list("pk", "rating", "comment", "handled_at")),
        list(StrategyPlan.objects.filter(owner=owner).values_list("pk", "title", "summary", "status")),
        list(PlanItem.objects.filter(plan__owner=owner).values_list("pk", "text", "position", "status")),
        list(ToolkitVersion.objects.values_list("pk", "status", "is_active", "version_tag")),
        Chunk.objects.count(),
        type(owner).objects.filter(pk=owner.pk).values_list("password", "is_active", "is_staff").get(),
        list(ApiToken.objects.filter(user=owner).values_list("pk", "name", "token_hash", "revoked_at")),
    ]


def requests_for(url: str) -> list[tuple[str, dict]]:
    form = {"title": "hijack", "text": "hijack", "kind": "note", "status": "done", "rating": "up",
            "comment": "hijack", "direction": "up", "action": "delete_selected", "_selected_action": "1",
            "post": "yes", "username": "owner", "password": "x"}  # fmt: skip
    found = [("get", {}), ("post", {"data": form})]
    if url.startswith("/api/"):
        body = json.dumps({"title": "hijack", "query": RESTRICTED_QUESTION, "rating": "down", "text": "x",
                           "comment": "hijack", "item_ids": [], "message_id": 1})  # fmt: skip
        found += [
            (m, {"data": body, "content_type": "application/json"})
            for m in ("post", "put", "patch", "delete")
        ]
    return found


ROLES = ["anonymous", "second user", "user outside the group", "staff without permissions",
         "second user's API token", "SSO user"]  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_every_url_keeps_the_first_users_data_and_the_admin_closed(
    role, owner, second_user, staff_user, django_user_model, first_users_data
):
    data = first_users_data
    message = data["message"]
    secrets = ["owner-secret", message.answer[:60], owner.email, data["token_plaintext"]]
    secrets.append(data["token"].prefix)  # the owner's token, not even its public part
    outsider = django_user_model.objects.create_user("outsider", "outsider@example.org", "x")
    outsider.groups.add(Group.objects.create(name="outsiders"))
    if role == "SSO user":  # made by a first single sign-on, as accounts/oidc.py makes one
        sso_claims = {"sub": "idp-1", "email": "sso@example.org", "email_verified": True}
        user = user_for_claims("https://idp.example.org", sso_claims)
    else:
        user = {"anonymous": None, "second user": second_user, "user outside the group": outsider,
                "staff without permissions": staff_user,
                "second user's API token": second_user}[role]  # fmt: skip
    token = issue_token(second_user, "sweep")[1] if role.endswith("token") else None
    url_values = data["url_values"]
    if user is None or not user.is_staff:  # staff read every toolkit
        secrets.append("Zanzibar")
    if role == "user outside the group":  # the section ids it tries are the restricted toolkit's
        url_values = {**url_values, "chunk_id": data["restricted_chunk_id"]}
    before = snapshot(owner)
    routes = [route for route, _ in all_routes()]
    assert len(routes) > 100 and "api/plans/<int:plan_id>/items/<int:item_id>/" in routes
    checked = 0
    for route in routes:
        url = fill(route, url_values)
        # A token is its user on the token API only; elsewhere its caller is anonymous.
        caller = user if token is None or url.startswith(TOKEN_PATHS) else None
        for method, kwargs in requests_for(url):
            if token is not None:
                client = Client(headers={"Authorization": f"Bearer {token}"})
            else:
                client = Client()
                if user is not None:
                    client.force_login(user)  # again for each request: a POST to a logout URL ends it
            response = getattr(client, method)(url, **kwargs)
            if response.streaming:
                b"".join(response.streaming_content)
            body = response.content.decode(errors="replace") if not response.streaming else ""
            context = f"{role}: {method.upper()} {url} -> {response.status_code}"
            checked += 1
            assert response.status_code < 500, context
            for secret in secrets:
                assert secret not in body, f"{context} shows {secret!r}"
            if route in PUBLIC:
                continue
            if route.startswith("admin/"):
                if caller is None or not caller.is_staff:  # the admin's own login page, nothing else
                    assert response.status_code in (302, 404, 405), context
                    if response.status_code == 302:
                        assert response["Location"].startswith("/admin/login/"), context
                else:
                    assert response.status_code in (200, 302, 403, 404, 405), context
            elif caller is None:
                assert response.status_code in (302, 401, 403, 405), context
                if response.status_code == 302:
                    assert response["Location"].startswith("/auth/login"), context
            elif "<" in route and (route not in SHARED_CONTENT or role == "user outside the group"):
                # someone else's, or not theirs to read
                assert response.status_code in (403, 404, 405), context
    print(f"access sweep, {role}: {checked} URL x method combinations")
    assert checked > 250
    assert snapshot(owner) == before
