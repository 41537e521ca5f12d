"""A real SMTP server on loopback for the tests that read the mail the app sends."""

from collections.abc import Iterator

import pytest

from toolkitrag.testing.smtp_server import SmtpServer


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server, settings) -> SmtpServer:
    """Django's SMTP backend pointed at the loopback server, which starts each test empty."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    smtp_server.clear()
    return smtp_server
