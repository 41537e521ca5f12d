"""Issuing, checking and revoking API tokens (accounts/api_tokens.py)."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.api_tokens import TOKEN_SHAPE, TokenRefused, authenticate_token, issue_token, revoke_token
from accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def test_a_token_is_greppable_and_only_its_sha256_is_stored(owner):
    token, plaintext = issue_token(owner, "  report script  ")
    assert TOKEN_SHAPE.fullmatch(plaintext)
    assert plaintext.startswith(f"tkr_{token.prefix}_")
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert stored["name"] == "report script"
    assert stored["token_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext.split("_")[2] not in str(stored)  # the secret itself is nowhere in the row
    assert authenticate_token(plaintext).user == owner


def test_two_tokens_never_share_a_secret(owner):
    plaintexts = {issue_token(owner, f"t{n}")[1] for n in range(5)}
    assert len(plaintexts) == 5


@pytest.mark.parametrize(
    "name, message",
    [("", "Give the token a name"), ("   ", "Give the token a name"), ("x" * 101, "too long"),
     ("two\nlines", "one line"), ("tab\there", "one line")],
)  # fmt: skip
def test_bad_names_are_refused_and_nothing_is_saved(owner, name, message):
    with pytest.raises(TokenRefused, match=message):
        issue_token(owner, name)
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_expiry_out_of_range_is_refused(owner, days):
    with pytest.raises(TokenRefused, match="between 1 and 3650 days"):
        issue_token(owner, "script", days)
    assert not ApiToken.objects.exists()


def test_active_names_are_unique_per_user_case_insensitively(owner, second_user):
    issue_token(owner, "CI")
    with pytest.raises(TokenRefused, match="already called"):
        issue_token(owner, "ci")
    issue_token(second_user, "ci")  # another user's names do not count
    revoke_token(owner, ApiToken.objects.get(user=owner).pk)
    issue_token(owner, "ci")  # a revoked token's name is free again


def test_at_most_the_configured_number_of_active_tokens(owner, settings):
    settings.API_TOKEN_MAX_PER_USER = 2
    first, _ = issue_token(owner, "one")
    issue_token(owner, "two")
    with pytest.raises(TokenRefused, match="already has 2 active tokens"):
        issue_token(owner, "three")
    revoke_token(owner, first.pk)
    issue_token(owner, "three")  # revoking frees a place
    ApiToken.objects.filter(name="two").update(expires_at=timezone.now() - timedelta(seconds=1))
    issue_token(owner, "four")  # so does expiry
    assert ApiToken.objects.filter(user=owner).count() == 4


@pytest.mark.parametrize(
    "plaintext, message",
    [("", "malformed"), ("garbage", "malformed"), ("a" * 64, "malformed"),
     ("tkr_0123abcd_" + "0" * 63, "malformed"), ("tkr_0123abcd_" + "0" * 64, "not valid"),
     ("TKR_0123ABCD_" + "0" * 64, "malformed")],
)  # fmt: skip
def test_garbage_is_refused_with_a_reason(plaintext, message):
    with pytest.raises(TokenRefused, match=message):
        authenticate_token(plaintext)


def test_a_token_without_its_prefix_is_refused(owner):
    _, plaintext = issue_token(owner, "script")
    with pytest.raises(TokenRefused, match="malformed"):
        authenticate_token(plaintext.split("_")[2])


def test_revoked_expired_and_disabled_account_tokens_are_refused(owner):
    revoked, revoked_plain = issue_token(owner, "revoked")
    revoke_token(owner, revoked.pk)
    expired, expired_plain = issue_token(owner, "expired", 1)
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    _, live_plain = issue_token(owner, "live", 1)
    assert authenticate_token(live_plain).user == owner
    with pytest.raises(TokenRefused, match="revoked"):
        authenticate_token(revoked_plain)
    with pytest.raises(TokenRefused, match="expired"):
        authenticate_token(expired_plain)
    owner.is_active = False
    owner.save()
    with pytest.raises(TokenRefused, match="disabled"):
        authenticate_token(live_plain)


def test_only_the_owner_revokes_and_revoking_twice_keeps_the_first_time(owner, second_user):
    token, _ = issue_token(owner, "script")
    assert revoke_token(second_user, token.pk) is None
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    first = revoke_token(owner, token.pk).revoked_at
    assert revoke_token(owner, token.pk).revoked_at == first


def test_last_used_is_written_at_most_once_a_minute(owner):
    token, plaintext = issue_token(owner, "script")
    assert token.last_used_at is None
    authenticate_token(plaintext)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    authenticate_token(plaintext)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first  # within the minute: no write
    earlier = timezone.now() - timedelta(minutes=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=earlier)
    authenticate_token(plaintext)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > earlier
