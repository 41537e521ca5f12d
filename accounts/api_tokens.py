"""Personal API tokens: issue, check, revoke.

A token reads `tkr_<prefix>_<secret>`: 8 hex characters shown in lists (not secret) and 64 hex
characters of `secrets.token_hex(32)`. The fixed `tkr_` start and shape let secret scanners (GitHub,
gitleaks, trufflehog) find a leaked one with one regular expression: `tkr_[0-9a-f]{8}_[0-9a-f]{64}`.

Only the SHA-256 of the whole token is stored. A slow, salted hash (PBKDF2, as for passwords) is
for secrets that can be guessed; 256 random bits cannot be searched whatever the hash, so it would
only add CPU to every API call (Django's PBKDF2: 1.3 s per check against 2.4 ms for the whole
SHA-256 lookup, bench/api_tokens.py) and, being salted, make the token impossible to find by an
indexed lookup. The lookup by hash also needs no constant-time comparison: timing can at most hint
at a hash's first bytes, which says nothing about a secret that hashes to them.
"""

import hashlib
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import ApiToken, User

TOKEN_SHAPE = re.compile(r"tkr_(?P<prefix>[0-9a-f]{8})_[0-9a-f]{64}")
NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length
MAX_EXPIRY_DAYS = 3650
# last_used_at is written at most this often per token, not on every call.
LAST_USED_PRECISION = timedelta(minutes=1)


class TokenRefused(ValueError):
    """A token cannot be issued (or used); the message is shown to the person asking."""


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def active_tokens(user: AbstractBaseUser) -> QuerySet[ApiToken]:
    now = timezone.now()
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def clean_name(name: str) -> str:
    """The name as stored (stripped); raises TokenRefused if it is empty, too long or has control
    characters (a name appears in pages and in the admin, one line each)."""
    name = name.strip()
    if not name:
        raise TokenRefused("Give the token a name, so you can tell it apart later.")
    if len(name) > NAME_MAX_LENGTH:
        raise TokenRefused(f"The name is too long (at most {NAME_MAX_LENGTH} characters).")
    if any(ord(character) < 32 or 0x7F <= ord(character) < 0xA0 for character in name):
        raise TokenRefused("The name must be one line of text, without control characters.")
    return name


def check_can_issue(user: AbstractBaseUser, name: str) -> str:
    """The cleaned name, if `user` may have one more token called `name`; raises TokenRefused."""
    name = clean_name(name)
    active = active_tokens(user)
    limit = settings.API_TOKEN_MAX_PER_USER
    if active.count() >= limit:
        raise TokenRefused(
            f"{user} already has {limit} active tokens, the most allowed. Revoke one you no longer use."
        )
    if active.filter(name__iexact=name).exists():
        raise TokenRefused(f"An active token is already called “{name}”. Choose another name.")
    return name


def check_expiry_days(days: int | None) -> None:
    if days is not None and not 1 <= days <= MAX_EXPIRY_DAYS:
        raise TokenRefused(f"Expiry must be between 1 and {MAX_EXPIRY_DAYS} days, or empty for none.")


def fill_new_token(token: ApiToken, expires_in_days: int | None) -> str:
    """Give an unsaved token its secret, prefix, hash and expiry; returns the plaintext, which
    exists nowhere else: the caller shows it once."""
    check_expiry_days(expires_in_days)
    prefix = secrets.token_hex(4)
    plaintext = f"tkr_{prefix}_{secrets.token_hex(32)}"
    token.prefix = prefix
    token.token_hash = hash_token(plaintext)
    if expires_in_days is not None:
        token.expires_at = timezone.now() + timedelta(days=expires_in_days)
    return plaintext


def issue_token(
    user: AbstractBaseUser, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new token for `user` and its plaintext; raises TokenRefused (nothing is saved then)."""
    with transaction.atomic():
        # One issue at a time per user: two parallel requests cannot both pass the limit check.
        User.objects.select_for_update().filter(pk=user.pk).first()
        name = check_can_issue(user, name)
        token = ApiToken(user=user, name=name)
        plaintext = fill_new_token(token, expires_in_days)
        token.save()
    return token, plaintext


def revoke_token(user: AbstractBaseUser, token_id: int) -> ApiToken | None:
    """Revoke one of `user`'s own tokens (someone else's id finds nothing: None). Revoking twice
    keeps the first time."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is not None and token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def revoke_tokens(tokens: QuerySet[ApiToken]) -> int:
    """Revoke these tokens (the admin's action); returns how many were still unrevoked."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def authenticate_token(plaintext: str) -> ApiToken:
    """The active token for this plaintext, with its user, marked as used; raises TokenRefused
    saying what is wrong (the message goes back to the API caller)."""
    if not TOKEN_SHAPE.fullmatch(plaintext):
        raise TokenRefused("The token is malformed: API tokens look like tkr_<8 hex>_<64 hex>.")
    token = ApiToken.objects.select_related("user").filter(token_hash=hash_token(plaintext)).first()
    if token is None:
        raise TokenRefused("The token is not valid.")
    if token.revoked_at is not None:
        raise TokenRefused("The token has been revoked.")
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRefused("The token has expired.")
    if not token.user.is_active:
        raise TokenRefused("The token's account is disabled.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        token.last_used_at = now
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
