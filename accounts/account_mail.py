"""Mail to account owners (sign-up links, invitations, warnings), from templates/accounts/email/.

A mail server that is down or refuses the message raises MailNotSent, which views turn into a
clear page; nothing is half-done before the mail is sent.
"""

import logging
import smtplib

from django.core.mail import send_mail
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


class MailNotSent(Exception):
    """The mail server could not be reached or refused the message."""


def deliver(subject: str, body: str, to: str) -> None:
    """Send one plain-text message; MailNotSent if the mail server fails."""
    try:
        send_mail(subject, body, None, [to])
    except (smtplib.SMTPException, OSError) as error:
        # OSError: connection refused, DNS failure, timeout (EMAIL_TIMEOUT).
        logger.warning("could not send mail %r: %s: %s", subject, type(error).__name__, error)
        raise MailNotSent(str(error)) from error


def send_account_mail(subject: str, template: str, to: str, context: dict) -> None:
    deliver(subject, render_to_string(f"accounts/email/{template}.txt", context), to)
