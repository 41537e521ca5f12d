"""The proxy configs in deploy/, run for real on loopback in the order DEPLOY.md §9 gives.

nginx: the bootstrap config starts with no certificate anywhere and answers the ACME challenge
from the webroot; the full config cannot start without a certificate (why the bootstrap step
exists); with a certificate it starts, still answers the challenge over HTTP (renewals) and
sends everything else to HTTPS. Caddy: the repo's Caddyfile with loopback ports and a test
certificate instead of Let's Encrypt (no ACME on a test machine), in front of a small HTTP
server standing in for the app. Both: headers sent once, the client address passed on, and the
answer stream passed through in pieces (by the order of events, never by durations).
"""

import gzip
import http.client
import os
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings

from toolkitrag.testing import REPO_ROOT
from toolkitrag.testing.servers import free_port

pytestmark = pytest.mark.system  # starts nginx and Caddy

DEPLOY = REPO_ROOT / "deploy"
SECURITY_HEADERS = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Content-Security-Policy",
)
STREAM_PATH = "/api/rag/answer/stream"
STREAM_EVENTS = 6
CHALLENGE = "Zm9yLWxldHNlbmNyeXB0LXRva2Vu.c2lnbmVk"  # shaped like an ACME key authorization
WAIT = 30  # seconds: a generous limit for something to happen, never a measured duration


def needs(tool: str):
    return pytest.mark.skipif(shutil.which(tool) is None, reason=f"needs {tool} (apt-get install {tool})")


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


# --- a stand-in for the app ----------------------------------------------------------------------


class StandInApp(ThreadingHTTPServer):
    """Answers like ToolkitRAG where the proxies care: security headers on pages, /health, and
    an event stream whose next event is written only once the client has read the one before."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), StandInHandler)
        self.seen: list[dict[str, str]] = []  # request headers, as the proxy passed them on
        self.read_by_client = threading.Semaphore(0)
        self.held_back: list[int] = []

    @property
    def port(self) -> int:
        return self.server_address[1]


class StandInHandler(BaseHTTPRequestHandler):
    server: StandInApp

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        self.server.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if self.path == "/health":
            self.reply(b'{"status": "ok"}', "application/json", app_headers=False)
        elif self.path == "/plain":
            self.reply(b"no security headers from the app here", "text/plain", app_headers=False)
        elif self.path == STREAM_PATH:
            self.stream()
        else:
            self.reply(b"<!doctype html><p>" + b"A page the proxy may compress. " * 200, "text/html")

    def reply(self, body: bytes, content_type: str, app_headers: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if app_headers:
            # What Django's SecurityMiddleware and the CSP setting send in production.
            self.send_header("Strict-Transport-Security", "max-age=31536000; includeSubDomains; preload")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Referrer-Policy", "same-origin")
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        self.end_headers()
        self.wfile.write(body)

    def stream(self) -> None:
        # HTTP/1.0 without a length: the body ends when the connection closes, as a stream may.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for i in range(STREAM_EVENTS):
            if i > 0 and not self.server.held_back and not self.server.read_by_client.acquire(timeout=WAIT):
                # The client never saw event i - 1: something between us buffers. Go on without.
                self.server.held_back.append(i)
            # The comment line makes each event longer than Caddy's `encode` minimum (512 bytes),
            # so a proxy that would compress the stream has enough to start on.
            self.wfile.write(f"event: token\n: {'padding ' * 80}\ndata: {i}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"event: final\ndata: done\n\n")


@pytest.fixture
def app() -> Iterator[StandInApp]:
    server = StandInApp()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def read_stream(response: http.client.HTTPResponse, app: StandInApp) -> list[str]:
    """The token events' data, telling the app after each one that the client has it."""
    tokens, event = [], ""
    for raw in response:
        line = raw.decode().strip()
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: ") and event == "token":
            tokens.append(line[len("data: ") :])
            app.read_by_client.release()
        elif line.startswith("data: ") and event == "final":
            break
    return tokens


# --- certificates, processes, requests -----------------------------------------------------------


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the site name and 127.0.0.1, standing in for Let's Encrypt's."""
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    result = run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=toolkit.example.org",
         "-addext", "subjectAltName=DNS:toolkit.example.org,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return cert, key


def wait_for_port(process: subprocess.Popen, port: int) -> None:
    """Until something accepts connections on the port; fails with the server's output if it exits."""
    for _ in range(WAIT * 10):
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"{process.args[0]} exited with {process.returncode}: {output}")
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{process.args[0]} did not listen on port {port}")


def start(command: list[str], port: int, **kwargs) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    wait_for_port(process, port)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def get(port: int, path: str, tls: ssl.SSLContext | None = None, **headers: str) -> http.client.HTTPResponse:
    """One request with the site's Host header; redirects are returned, not followed."""
    if tls is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    else:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=WAIT, context=tls)
    connection.request("GET", path, headers={"Host": "toolkit.example.org", **headers})
    return connection.getresponse()


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def assert_security_headers_once(response: http.client.HTTPResponse) -> None:
    for name in SECURITY_HEADERS:
        values = response.headers.get_all(name) or []
        assert len(values) == 1, f"{name}: {values}"
    assert response.headers["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


# --- nginx -----------------------------------------------------------------------------------------


def nginx_site(name: str, directory: Path, http_port: int, https_port: int = 0, app_port: int = 0) -> str:
    """deploy/<name> on loopback ports, with this test's webroot, logs and (if any) certificate."""
    site = (DEPLOY / name).read_text()
    site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
    site = site.replace("/var/www/letsencrypt", str(directory / "webroot"))
    site = site.replace("/etc/letsencrypt/live/toolkit.example.org/", f"{directory}/")
    return site.replace("/var/log/nginx/", f"{directory}/")


def nginx_main(directory: Path, site: str) -> Path:
    """A minimal main nginx.conf that includes the site, as Debian's includes conf.d/*.conf."""
    (directory / "toolkitrag.conf").write_text(site)
    main = directory / "nginx.conf"
    temp = "".join(
        f" {kind}_temp_path {directory}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Workers as root only because pytest's folders are private to root; on the server they run
    # as www-data, and certbot leaves /var/www/letsencrypt readable by all.
    main.write_text(
        f"user root;\npid {directory}/nginx.pid;\nerror_log {directory}/error.log;\nevents {{}}\n"
        f"http {{\n include /etc/nginx/mime.types;\n access_log {directory}/access.log;\n{temp}"
        f" include {directory}/toolkitrag.conf;\n}}\n"
    )
    return main


def place_challenge(directory: Path) -> None:
    """What certbot --webroot writes before it asks Let's Encrypt to fetch it."""
    challenges = directory / "webroot" / ".well-known" / "acme-challenge"
    challenges.mkdir(parents=True)
    (challenges / "token-1").write_text(CHALLENGE)


def start_nginx(directory: Path, main: Path, port: int) -> subprocess.Popen:
    return start(["nginx", "-c", str(main), "-p", str(directory), "-g", "daemon off;"], port)


@needs("nginx")
def test_nginx_bootstrap_answers_the_acme_challenge_before_any_certificate_exists(tmp_path):
    http_port = free_port()
    site = nginx_site("nginx-bootstrap.conf", tmp_path, http_port)
    assert "ssl_certificate" not in site and "443" not in site  # nothing that needs a certificate
    assert not list(tmp_path.glob("*.pem"))
    place_challenge(tmp_path)
    main = nginx_main(tmp_path, site)
    result = run(["nginx", "-t", "-c", str(main), "-p", str(tmp_path)])
    assert result.returncode == 0, result.stderr

    nginx = start_nginx(tmp_path, main, http_port)
    try:
        response = get(http_port, "/.well-known/acme-challenge/token-1")
        assert (response.status, response.read().decode()) == (200, CHALLENGE)
        assert get(http_port, "/.well-known/acme-challenge/no-such-token").status == 404
        response = get(http_port, "/")
        assert response.status == 503
        assert "being set up" in response.read().decode()
        assert response.headers["Server"] == "nginx"  # server_tokens off: no version
    finally:
        stop(nginx)


@needs("nginx")
@needs("openssl")
def test_nginx_full_config_cannot_start_before_the_certificate_exists(tmp_path):
    # The reason for the bootstrap step: the full site names certbot's files.
    site = nginx_site("nginx.conf", tmp_path, free_port(), free_port(), free_port())
    result = run(["nginx", "-t", "-c", str(nginx_main(tmp_path, site)), "-p", str(tmp_path)])
    assert result.returncode != 0
    assert "fullchain.pem" in result.stderr


@needs("nginx")
@needs("openssl")
def test_nginx_full_config_with_a_certificate_keeps_the_challenge_and_redirects_the_rest(tmp_path, app):
    http_port, https_port = free_port(), free_port()
    cert, _ = certificate(tmp_path)
    place_challenge(tmp_path)
    main = nginx_main(tmp_path, nginx_site("nginx.conf", tmp_path, http_port, https_port, app.port))
    result = run(["nginx", "-t", "-c", str(main), "-p", str(tmp_path)])
    assert result.returncode == 0, result.stderr

    nginx = start_nginx(tmp_path, main, https_port)
    try:
        # Renewals: the challenge is still answered over plain HTTP, not redirected.
        response = get(http_port, "/.well-known/acme-challenge/token-1")
        assert (response.status, response.read().decode()) == (200, CHALLENGE)
        response = get(http_port, "/toolkits/?page=2")
        assert response.status == 301
        assert response.headers["Location"] == "https://toolkit.example.org/toolkits/?page=2"

        tls = trusting(cert)
        response = get(https_port, "/toolkits/", tls, **{"X-Real-IP": "203.0.113.9"})
        assert response.status == 200
        assert_security_headers_once(response)
        # The client's address, overwriting whatever the client claimed.
        assert app.seen[-1]["x-real-ip"] == "127.0.0.1"
        assert app.seen[-1]["x-forwarded-proto"] == "https"

        response = get(https_port, STREAM_PATH, tls, **{"Accept-Encoding": "gzip"})
        assert response.headers["Content-Type"] == "text/event-stream"
        assert "Content-Encoding" not in response.headers
        assert read_stream(response, app) == [str(i) for i in range(STREAM_EVENTS)]
        assert app.held_back == [], (
            f"event {app.held_back} was written before the client had the one before it"
        )
    finally:
        stop(nginx)


# --- Caddy -----------------------------------------------------------------------------------------


def caddyfile_on_loopback(directory: Path, http_port: int, https_port: int, app_port: int) -> Path:
    """The repo's Caddyfile with loopback ports, the test certificate (Caddy then asks no ACME
    server for it) and this test's log folder."""
    cert, key = certificate(directory)
    text = (DEPLOY / "Caddyfile").read_text()
    text = text.replace(
        "{\n\temail", f"{{\n\thttp_port {http_port}\n\thttps_port {https_port}\n\tadmin off\n\temail", 1
    )
    text = text.replace(
        "\ntoolkit.example.org {\n",
        f"\ntoolkit.example.org, 127.0.0.1 {{\n\tbind 127.0.0.1\n\ttls {cert} {key}\n",
        1,
    )
    text = text.replace("reverse_proxy 127.0.0.1:8000", f"reverse_proxy 127.0.0.1:{app_port}")
    text = text.replace("/var/log/caddy/", f"{directory}/")
    assert f"tls {cert}" in text and f"https_port {https_port}" in text, "the Caddyfile's layout changed"
    path = directory / "Caddyfile"
    path.write_text(text)
    return path


@pytest.fixture
def caddy(tmp_path, app) -> Iterator[tuple[int, ssl.SSLContext]]:
    https_port = free_port()
    caddyfile = caddyfile_on_loopback(tmp_path, free_port(), https_port, app.port)
    home = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    environment = {**os.environ, **home}  # its data and autosave go to the test folder
    result = run(["caddy", "validate", "--config", str(caddyfile), "--adapter", "caddyfile"], env=environment)
    assert result.returncode == 0, result.stderr
    process = start(
        ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"], https_port, env=environment
    )
    try:
        yield https_port, trusting(tmp_path / "fullchain.pem")
    finally:
        stop(process)


@needs("caddy")
@needs("openssl")
def test_caddy_proxies_with_the_security_headers_once_and_the_client_address(caddy, app):
    port, tls = caddy
    response = get(port, "/toolkits/", tls, **{"X-Real-IP": "203.0.113.9", "Accept-Encoding": "gzip"})
    assert response.status == 200
    assert_security_headers_once(response)
    assert "Server" not in response.headers
    assert response.headers["Content-Encoding"] == "gzip"  # pages are compressed...
    assert b"A page the proxy may compress." in gzip.decompress(response.read())
    assert app.seen[-1]["x-real-ip"] == "127.0.0.1"

    # ...and where the app sends no security headers, Caddy fills them in, still once each.
    response = get(port, "/plain", tls)
    assert response.status == 200
    assert_security_headers_once(response)


@needs("caddy")
@needs("openssl")
def test_caddy_passes_the_answer_stream_uncompressed_and_unbuffered(caddy, app):
    port, tls = caddy
    response = get(port, STREAM_PATH, tls, **{"Accept-Encoding": "gzip, zstd"})
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert "Content-Encoding" not in response.headers  # ...but never the stream
    assert read_stream(response, app) == [str(i) for i in range(STREAM_EVENTS)]
    assert app.held_back == [], f"event {app.held_back} was written before the client had the one before it"
