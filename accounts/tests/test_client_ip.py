import pytest
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from accounts.client_ip import client_ip
from toolkitrag.testing import PASSWORD


def ip_of(**meta) -> str:
    return client_ip(RequestFactory().get("/", **meta))


def test_forwarded_headers_are_ignored_without_a_trusted_proxy():
    assert ip_of(REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="1.2.3.4") == "203.0.113.5"
    assert ip_of(REMOTE_ADDR="203.0.113.5", HTTP_X_REAL_IP="1.2.3.4") == "203.0.113.5"


@override_settings(TRUSTED_PROXY_COUNT=1, CLIENT_IP_HEADER="X-Real-IP")
def test_x_real_ip_is_used_behind_a_trusted_proxy():
    assert ip_of(REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="198.51.100.7") == "198.51.100.7"
    assert ip_of(REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="not-an-ip") == "127.0.0.1"


@override_settings(TRUSTED_PROXY_COUNT=1, CLIENT_IP_HEADER="X-Forwarded-For")
def test_forwarded_for_takes_the_address_the_trusted_proxy_saw():
    # The client wrote "6.6.6.6"; the proxy appended the address it really saw.
    assert ip_of(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7") == "198.51.100.7"
    assert ip_of(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="") == "127.0.0.1"


@override_settings(TRUSTED_PROXY_COUNT=2, CLIENT_IP_HEADER="X-Forwarded-For")
def test_forwarded_for_with_two_proxies_skips_both():
    meta = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.7, 10.0.0.1"}
    assert ip_of(**meta) == "198.51.100.7"


@pytest.mark.django_db
@override_settings(RATE_LIMIT_ENABLED=False)
def test_spoofed_forwarded_for_does_not_lock_out_another_user(owner):
    # An attacker at 203.0.113.66 pretends to be the owner's address while guessing passwords.
    attacker = Client(REMOTE_ADDR="203.0.113.66", HTTP_X_FORWARDED_FOR="198.51.100.7")
    for _ in range(6):
        attacker.post(reverse("login"), {"username": "owner", "password": "guess"})
    assert attacker.post(reverse("login"), {"username": "owner", "password": PASSWORD}).status_code == 429

    owner_client = Client(REMOTE_ADDR="198.51.100.7")
    response = owner_client.post(reverse("login"), {"username": "owner", "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
@override_settings(RATE_LIMIT_ENABLED=False, TRUSTED_PROXY_COUNT=1, CLIENT_IP_HEADER="X-Forwarded-For")
def test_spoofed_forwarded_for_behind_proxy_does_not_lock_out_another_user(owner):
    # Behind one proxy: the attacker's fake entry is followed by the real one the proxy appends.
    attacker = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.66")
    for _ in range(6):
        attacker.post(reverse("login"), {"username": "owner", "password": "guess"})
    owner_client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    response = owner_client.post(reverse("login"), {"username": "owner", "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_spoofed_forwarded_for_does_not_dodge_the_rate_limit(rate_window):
    rate_window()
    for n in range(5):
        client = Client(HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        assert client.post(reverse("login"), {"username": f"u{n}", "password": "x"}).status_code == 200
    client = Client(HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert client.post(reverse("login"), {"username": "u99", "password": "x"}).status_code == 429
