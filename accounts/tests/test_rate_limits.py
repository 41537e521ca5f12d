import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.cookiejar import CookieJar

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from accounts.rate_limits import by_user_or_ip, per_minute, rate_limit
from toolkitrag.testing.servers import REDIS_URL, child_database_url, redis_available

pytestmark = pytest.mark.django_db


def attempt(client, n):
    return client.post(reverse("login"), {"username": f"nobody{n}", "password": "wrong"})


def test_login_is_rate_limited_per_ip_with_a_429_page(rate_window):
    rate_window()
    client = Client()
    for n in range(5):
        assert attempt(client, n).status_code == 200
    response = attempt(client, 6)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "Too many requests" in response.content.decode()
    # Another address is not affected.
    assert attempt(Client(REMOTE_ADDR="198.51.100.20"), 7).status_code == 200


def test_register_is_rate_limited(rate_window):
    rate_window()
    client = Client()
    for _ in range(5):
        client.post(reverse("register"), {"username": "x"})
    assert client.post(reverse("register"), {"username": "x"}).status_code == 429


def test_login_page_itself_is_not_rate_limited():
    client = Client()
    for _ in range(10):
        assert client.get(reverse("login")).status_code == 200


@override_settings(RATE_LIMIT_AUTH_REQUESTS=2)
def test_auth_limit_is_configurable(rate_window):
    rate_window()
    client = Client()
    assert attempt(client, 1).status_code == 200
    assert attempt(client, 2).status_code == 200
    assert attempt(client, 3).status_code == 429


@override_settings(RATE_LIMIT_ENABLED=False)
def test_rate_limits_can_be_switched_off():
    client = Client()
    for n in range(8):
        assert attempt(client, n).status_code == 200


@override_settings(RATE_LIMIT_RAG_REQUESTS=20)
def test_decorator_answers_json_429_with_retry_after_for_api_paths(owner, second_user, rate_window):
    rate_window(f"user:{owner.pk}")

    @rate_limit("test-api", per_minute("RATE_LIMIT_RAG_REQUESTS"), by_user_or_ip)
    def api_view(request):
        return HttpResponse("ok")

    def call(user):
        request = RequestFactory().post("/api/rag/answer")
        request.user = user
        return api_view(request)

    for _ in range(20):
        assert call(owner).status_code == 200
    response = call(owner)
    assert response.status_code == 429
    body = json.loads(response.content)
    assert body["retry_after"] == int(response["Retry-After"])
    assert "Try again in" in body["error"]
    assert call(second_user).status_code == 200  # per user, not global


@pytest.mark.system
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not redis_available(), reason=f"needs a Redis server at {REDIS_URL} (none is reachable)")
def test_rate_limit_holds_across_two_gunicorn_processes(start_app_server, rate_window):
    env = {
        "DATABASE_URL": child_database_url(),
        "CACHE_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": f"test-{uuid.uuid4().hex}",  # a fresh set of counters for this run
        "RATE_LIMIT_AUTH_REQUESTS": "5",
    }
    servers = [start_app_server(env), start_app_server(env)]
    assert servers[0].process.pid != servers[1].process.pid

    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(servers[0].url + "/auth/login").read().decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]

    rate_window(need=20)  # seven logins through gunicorn, each hashing a password, take seconds
    statuses = []
    secret = "hunter2-must-never-be-logged"
    for n in range(7):
        app = servers[n % 2]  # alternate between the two processes
        data = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": f"user{n}", "password": secret}
        ).encode()
        request = urllib.request.Request(app.url + "/auth/login", data=data, headers={"Referer": app.url})
        try:
            statuses.append(opener.open(request).status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)
    # Five attempts in the minute, shared by both processes; then 429 from either one.
    assert statuses == [200] * 5 + [429, 429], statuses
    for app in servers:
        assert secret not in app.log()
