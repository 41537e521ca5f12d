"""The drill's browser stand-in: log in through the proxy and ask a question (stdlib only).

Usage: python3 client.py SITE_URL USERNAME PASSWORD QUESTION
       python3 client.py --password-reset SITE_URL EMAIL  (asks for a reset link by mail)
Trusts the certificate in $SSL_CERT_FILE (the drill's self-signed one): nothing is unverified.
Asks twice: POST /api/rag/answer (one JSON answer) and /api/rag/answer/stream (Server-Sent
Events, which must arrive as several token events, then `final`). Exits 1 with a message if
either does not work.
"""

import json
import ssl
import sys
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar


def fail(message: str) -> None:
    print(f"client: {message}", file=sys.stderr)
    raise SystemExit(1)


def browser(site: str) -> tuple[urllib.request.OpenerDirector, CookieJar]:
    if not site.startswith("https://"):
        fail(f"{site}: the drill asks through the proxy, over HTTPS only")
    jar = CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
        urllib.request.HTTPCookieProcessor(jar),
    )
    return opener, jar


def form_token(opener: urllib.request.OpenerDirector, url: str) -> str:
    page = opener.open(url, timeout=30).read().decode()
    if 'name="csrfmiddlewaretoken" value="' not in page:
        fail(f"no form at {url}")
    return page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]


def password_reset(site: str, email: str) -> None:
    """Ask for a reset link as a person would; the drill then finds the mail at its mail server."""
    opener, _ = browser(site)
    token = form_token(opener, site + "/auth/password_reset")
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "email": email})
    request = urllib.request.Request(  # noqa: S310 - https:// only, checked in browser()
        site + "/auth/password_reset", data=form.encode(), headers={"Referer": site + "/"}
    )
    with opener.open(request, timeout=60) as response:
        if not response.url.endswith("/auth/password_reset/done"):
            fail(f"the password reset form did not lead to its done page (ended at {response.url})")
    print(f"password reset asked for {email}")


def main(site: str, username: str, password: str, question: str) -> None:
    opener, jar = browser(site)
    token = form_token(opener, site + "/auth/login")
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": username, "password": password})
    login = urllib.request.Request(  # noqa: S310 - https:// only, checked above
        site + "/auth/login", data=form.encode(), headers={"Referer": site + "/"}
    )
    opener.open(login, timeout=30).read()
    if not any(cookie.name == "sessionid" and cookie.secure for cookie in jar):
        fail(f"login as {username} through {site} did not give a secure session cookie")
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    headers = {"Content-Type": "application/json", "X-CSRFToken": csrf, "Referer": site + "/"}
    body = json.dumps({"query": question}).encode()

    request = urllib.request.Request(site + "/api/rag/answer", data=body, headers=headers)  # noqa: S310
    answer = json.loads(opener.open(request, timeout=120).read())
    if not answer.get("answered") or not answer.get("citations"):
        fail(f"/api/rag/answer gave no cited answer: {json.dumps(answer)[:500]}")
    print(f"answer: {answer['answer'][:160]!r} ({len(answer['citations'])} citation(s))")

    request = urllib.request.Request(site + "/api/rag/answer/stream", data=body, headers=headers)  # noqa: S310
    tokens, event, final = [], "", None
    with opener.open(request, timeout=120) as response:
        if response.headers["Content-Type"] != "text/event-stream":
            fail(f"stream answered {response.headers['Content-Type']}")
        for line in response:
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:].strip()
            elif line.startswith("data: ") and event == "token":
                tokens.append(json.loads(line[6:])["text"])
            elif line.startswith("data: ") and event == "final":
                final = json.loads(line[6:])
                break
    if final is None or len(tokens) < 5:
        fail(f"the stream gave {len(tokens)} token event(s) and {'a' if final else 'no'} final event")
    print(f"stream: {len(tokens)} token events, then the final answer")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--password-reset":
        password_reset(*sys.argv[2:])
        raise SystemExit(0)
    if len(sys.argv) != 5:
        fail("usage: client.py SITE_URL USERNAME PASSWORD QUESTION")
    main(*sys.argv[1:])
