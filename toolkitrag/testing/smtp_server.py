"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for tests that read mail.

The app sends through Django's SMTP backend exactly as in production; the test reads the
messages as parsed e-mails and follows the links in them.
"""

import email
import email.policy
import re
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from toolkitrag.testing.servers import free_port

# For ENV=prod stacks that must name a mail server but send no mail in their test: nothing
# listens on the discard port of loopback, so a message sent by mistake fails loudly.
NO_MAIL_URL = "smtp://127.0.0.1:9"


class _Mailbox:
    """aiosmtpd handler: every message delivered is appended, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        # Django's SMTP backend waits for this answer, so the message is here when send_mail returns.
        self.messages.append(message)
        return "250 Message accepted for delivery"


class SmtpServer:
    """Start with .start(), read .messages, stop with .stop(). `url` is an EMAIL_URL for it."""

    def __init__(self) -> None:
        self.port = free_port()
        self._mailbox = _Mailbox()
        self._controller = Controller(self._mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self._mailbox.messages)

    def start(self) -> "SmtpServer":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def clear(self) -> None:
        self._mailbox.messages.clear()


def body(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def links(message: EmailMessage) -> list[str]:
    return re.findall(r"https?://\S+", body(message))


def path_of(link: str) -> str:
    """The part of an e-mailed link the test client opens (scheme and host are the test server's)."""
    return re.sub(r"^https?://[^/]+", "", link)
