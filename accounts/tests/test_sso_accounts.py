"""From a provider's claims to an account (accounts/sso_accounts.py): who is found, linked, made
or refused, and which groups follow the provider. The whole flow with a real provider is in
test_sso_browser.py."""

import pytest
from django.contrib.auth.models import Group

from accounts.models import SsoIdentity, User
from accounts.sso_accounts import (
    SsoRefused,
    group_names_for_claims,
    sync_groups,
    user_for_claims,
    username_for_claims,
)
from toolkitrag.testing import PASSWORD

pytestmark = pytest.mark.django_db

ISSUER = "https://idp.example.org/realms/staff"


@pytest.fixture(autouse=True)
def group_map(settings):
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_GROUP_MAP = {
        "readers-at-idp": "Readers",
        "finance-at-idp": "Finance",
        "fin-guid": "Finance",
    }


def claims(sub="sub-1", email="jane@example.org", verified=True, **more) -> dict:
    return {"sub": sub, "email": email, "email_verified": verified, **more}


def test_a_new_person_gets_an_account_without_a_password_and_with_the_mapped_groups():
    user = user_for_claims(ISSUER, claims(preferred_username="jane", groups=["readers-at-idp", "other"]))
    assert (user.username, user.email, user.has_usable_password()) == ("jane", "jane@example.org", False)
    assert set(user.groups.values_list("name", flat=True)) == {"Readers"}
    assert SsoIdentity.objects.get().subject == "sub-1"


def test_later_sign_ins_find_the_account_by_subject_even_after_the_address_changed():
    first = user_for_claims(ISSUER, claims())
    again = user_for_claims(ISSUER, claims(email="jane.doe@example.org"))
    assert again == first and User.objects.count() == 1


def test_the_same_subject_at_another_issuer_is_another_person():
    first = user_for_claims(ISSUER, claims(email="a@example.org"))
    other = user_for_claims("https://other-idp.example.org", claims(email="b@example.org"))
    assert other != first


def test_a_verified_address_links_the_existing_account_case_insensitively():
    existing = User.objects.create_user("owner", "Owner@Example.org", PASSWORD)
    assert user_for_claims(ISSUER, claims(email="owner@example.ORG")) == existing
    existing.refresh_from_db()
    assert existing.check_password(PASSWORD)


@pytest.mark.parametrize("verified", [False, None, "false", "yes"])
def test_an_unverified_address_never_links_an_existing_account(verified):
    User.objects.create_user("owner", "owner@example.org", PASSWORD)
    with pytest.raises(SsoRefused, match="has not verified that this address is yours"):
        user_for_claims(ISSUER, claims(email="owner@example.org", verified=verified))
    assert not SsoIdentity.objects.exists()


def test_verified_given_as_the_string_true_counts():
    existing = User.objects.create_user("owner", "owner@example.org", PASSWORD)
    assert user_for_claims(ISSUER, claims(email="owner@example.org", verified="true")) == existing


def test_an_account_linked_to_one_person_cannot_be_linked_to_a_second():
    user_for_claims(ISSUER, claims(sub="first", email="shared@example.org", verified=False))
    with pytest.raises(SsoRefused, match="linked to another person"):
        user_for_claims(ISSUER, claims(sub="second", email="shared@example.org", verified=True))


def test_a_disabled_account_is_refused_and_keeps_its_groups():
    user = user_for_claims(ISSUER, claims(groups=["readers-at-idp"]))
    user.is_active = False
    user.save()
    with pytest.raises(SsoRefused, match="disabled"):
        user_for_claims(ISSUER, claims(groups=[]))
    assert list(user.groups.values_list("name", flat=True)) == ["Readers"]


def test_no_address_or_no_subject_is_refused_with_what_to_do():
    with pytest.raises(SsoRefused, match="release the email scope"):
        user_for_claims(ISSUER, claims(email=""))
    with pytest.raises(SsoRefused, match="no subject"):
        user_for_claims(ISSUER, claims(sub=""))
    assert not User.objects.exists()


def test_usernames_are_free_case_insensitively_and_hold_only_allowed_characters():
    User.objects.create_user("Jane", "other@example.org", PASSWORD)
    assert username_for_claims({"preferred_username": "jane"}) == "jane-2"
    assert username_for_claims({"preferred_username": "j a/n<e>"}) == "jane-2"
    assert username_for_claims({"email": "bob.smith@example.org"}) == "bob.smith"
    assert username_for_claims({"preferred_username": "<>"}) == "user"
    assert len(username_for_claims({"preferred_username": "x" * 400})) <= 150


@pytest.mark.parametrize(
    "value, expected",
    [
        (["readers-at-idp", "fin-guid", "unknown"], {"Readers", "Finance"}),
        ("finance-at-idp", {"Finance"}),  # one group as a plain string
        (None, set()),
        ([], set()),
        ([42, {"nested": 1}], set()),
    ],
)
def test_group_claim_values_map_through_the_group_map_only(value, expected):
    assert group_names_for_claims({"groups": value}) == expected


def test_the_claim_name_is_a_setting(settings):
    settings.OIDC_GROUPS_CLAIM = "roles"
    assert group_names_for_claims({"roles": ["readers-at-idp"], "groups": ["finance-at-idp"]}) == {"Readers"}


def test_sync_groups_touches_only_the_groups_the_map_manages(settings):
    user = User.objects.create_user("jane", "jane@example.org")
    pilot = Group.objects.create(name="Pilot users")
    user.groups.add(pilot, Group.objects.create(name="Finance"))
    sync_groups(user, {"Readers"})
    assert set(user.groups.values_list("name", flat=True)) == {"Readers", "Pilot users"}
    sync_groups(user, set())
    assert set(user.groups.values_list("name", flat=True)) == {"Pilot users"}


def test_without_a_group_map_groups_are_left_alone(settings):
    settings.OIDC_GROUP_MAP = {}
    user = User.objects.create_user("jane", "jane@example.org")
    user.groups.add(Group.objects.create(name="Readers"))
    user_for_claims(ISSUER, claims(groups=["readers-at-idp"]))
    assert list(user.groups.values_list("name", flat=True)) == ["Readers"]
