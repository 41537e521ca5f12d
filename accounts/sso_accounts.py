"""From an identity provider's claims to a ToolkitRAG account: find, link or create it, and keep
its provider-managed groups in step. accounts/oidc.py calls these once the provider's tokens are
verified; they trust the claims they are given and nothing else.

The rules (DEPLOY.md, "Single sign-on"):
- an account is found by its SsoIdentity (issuer + subject) after the first sign-in;
- at the first sign-in, an existing account with the same e-mail address is linked only when the
  provider says the address is verified (`email_verified`), and only if no other identity from
  this provider is linked to it already; otherwise a new account is made;
- the groups of OIDC_GROUP_MAP follow the groups claim at every sign-in; other groups are left alone.
"""

import re

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import SsoIdentity, User

# Django's username validator accepts letters, digits and @.+-_; anything else goes.
_NOT_USERNAME = re.compile(r"[^\w.@+-]")
_USERNAME_MAX = 150


class SsoRefused(Exception):
    """A sign-in ToolkitRAG will not accept although the provider vouched for it; the message is
    shown to the person, so it says what to do."""


def user_for_claims(issuer: str, claims: dict) -> User:
    """The active account the claims (ID token and userinfo, merged) sign in to; SsoRefused if none."""
    subject = str(claims.get("sub") or "")
    if not subject:
        raise SsoRefused("The identity provider did not say who you are (no subject). Ask an administrator.")
    try:
        with transaction.atomic():
            identity = (
                SsoIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
            )
            if identity is None:
                identity = _link_or_create(issuer, subject, claims)
            user = identity.user
            if not user.is_active:
                raise SsoRefused("Your ToolkitRAG account is disabled. Ask an administrator to enable it.")
            identity.last_login_at = timezone.now()
            identity.save(update_fields=["last_login_at"])
            sync_groups(user, group_names_for_claims(claims))
    except IntegrityError as error:
        # The same first sign-in twice at once (two tabs): the other one made the account.
        raise SsoRefused("Your account was being set up by another sign-in just now. Try again.") from error
    return user


def _link_or_create(issuer: str, subject: str, claims: dict) -> SsoIdentity:
    email = str(claims.get("email") or "").strip()
    if not email:
        raise SsoRefused(
            "The identity provider did not share your e-mail address, which a ToolkitRAG account needs. "
            "Ask an administrator to release the email scope to ToolkitRAG."
        )
    existing = User.objects.filter(email__iexact=email).first()
    if existing is None:
        user = User.objects.create_user(username_for_claims(claims), email=email)  # no usable password
        return SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    if not email_is_verified(claims):
        raise SsoRefused(
            f"An account with the e-mail address {email} exists already, and the identity provider has "
            "not verified that this address is yours, so the two cannot be linked. "
            "Ask an administrator, or sign in with your password."
        )
    if SsoIdentity.objects.filter(user=existing, issuer=issuer).exists():
        raise SsoRefused(
            f"The account with the e-mail address {email} is linked to another person at the identity "
            "provider already. Ask an administrator."
        )
    return SsoIdentity.objects.create(user=existing, issuer=issuer, subject=subject)


def email_is_verified(claims: dict) -> bool:
    """`email_verified` is a JSON boolean; a few providers send the string "true"."""
    verified = claims.get("email_verified")
    return verified is True or (isinstance(verified, str) and verified.lower() == "true")


def username_for_claims(claims: dict) -> str:
    """A free username (compared case-insensitively, as the database does) from the provider's
    preferred_username or the e-mail address's local part: jane, then jane-2, jane-3, ..."""
    wanted = str(claims.get("preferred_username") or "") or str(claims.get("email") or "").split("@")[0]
    base = _NOT_USERNAME.sub("", wanted)[: _USERNAME_MAX - 8] or "user"
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def group_names_for_claims(claims: dict) -> set[str]:
    """The Django groups the provider's groups claim maps to through OIDC_GROUP_MAP. A missing
    claim means no groups (so they are removed); one string is one group."""
    values = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(values, str):
        values = [values]
    mapping = settings.OIDC_GROUP_MAP
    return {mapping[str(value)] for value in values if str(value) in mapping}


def sync_groups(user: User, wanted: set[str]) -> None:
    """Give `user` exactly the `wanted` ones among the groups OIDC_GROUP_MAP manages (creating a
    mapped group the first time it is needed); groups an administrator gave by hand stay."""
    managed = set(settings.OIDC_GROUP_MAP.values())
    current = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
    if current - wanted:
        user.groups.remove(*Group.objects.filter(name__in=current - wanted))
    for name in wanted - current:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
