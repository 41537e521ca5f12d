"""Invitations: an administrator invites an address; its owner follows the mailed link to join.

The link's token is random (256 bits) and stored only as its SHA-256, so a copy of the database
cannot be used to accept anyone's invitation. Resending makes a new token (the old link stops
working) and a new expiry.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.forms import SetPasswordForm
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.account_mail import send_account_mail
from accounts.models import Invitation, User
from accounts.registration import AddressTaken, LinkExpired, LinkInvalid


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(invitation: Invitation) -> str:
    """Give the invitation a fresh token (unsaved); returns the token for the link."""
    token = secrets.token_urlsafe(32)
    invitation.token_hash = _hash(token)
    return token


def renew(invitation: Invitation) -> str:
    """A new link and a new expiry for an invitation (saved): the old link stops working."""
    token = new_token(invitation)
    invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_DAYS)
    invitation.save(update_fields=["token_hash", "expires_at"])
    return token


def send_invitation(request: HttpRequest, invitation: Invitation, token: str) -> None:
    """Mail the link; raises MailNotSent when the mail server fails."""
    context = {
        "link": request.build_absolute_uri(reverse("invitation", args=[token])),
        "invited_by": invitation.invited_by,
        "expires_at": invitation.expires_at,
    }
    send_account_mail("You are invited to ToolkitRAG", "invitation", invitation.email, context)


def open_invitation(token: str) -> Invitation:
    """The invitation a link names, if it can still be accepted.

    Raises LinkInvalid (unknown or revoked), LinkExpired, or AddressTaken (accepted, or the
    address has an account by now).
    """
    invitation = Invitation.objects.filter(token_hash=_hash(token)).first()
    if invitation is None:
        raise LinkInvalid
    if invitation.accepted_at is not None or User.objects.filter(email__iexact=invitation.email).exists():
        raise AddressTaken
    if invitation.expired:
        raise LinkExpired
    return invitation


def accept(invitation: Invitation, form: SetPasswordForm) -> User:
    """Create the invited account from a valid set-password form, in its groups, once."""
    try:
        with transaction.atomic():
            # Locked: the same link submitted twice at once creates one account, not two.
            locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
            if locked.accepted_at is not None:
                raise AddressTaken
            user = form.save()
            user.groups.set(locked.groups.all())
            locked.accepted_at = timezone.now()
            locked.save(update_fields=["accepted_at"])
            return user
    except IntegrityError as error:
        raise AddressTaken from error
