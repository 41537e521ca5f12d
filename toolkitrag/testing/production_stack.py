"""The production stack on loopback, for tests: gunicorn with deploy/gunicorn.conf.py (ENV=prod)
behind nginx with the repo's deploy/nginx.conf (certificate, ports and paths rewritten).

Used by toolkitrag/tests/test_deploy.py (one stack per test) and test_validate_production.py (one
stack per module, broken and repaired one thing at a time). Needs nginx and openssl.
"""

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from http.cookiejar import CookieJar
from pathlib import Path

from toolkitrag.testing import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
SITE_HOST = "toolkit.example.org"


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)  # noqa: S603


def self_signed_certificate(directory: Path, days: int = 2, host: str = "127.0.0.1") -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    result = run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
         "-subj", f"/CN={host}", "-keyout", str(key), "-out", str(cert)]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return cert, key


def certificate_authority(directory: Path) -> tuple[Path, Path]:
    """A throwaway CA, so that a test can check chain and host name the way a browser does."""
    cert, key = directory / "ca.pem", directory / "ca-key.pem"
    result = run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=Test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-keyout", str(key), "-out", str(cert)]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return cert, key


def signed_certificate(
    directory: Path, ca: tuple[Path, Path], host: str, days: int, name: str
) -> tuple[Path, Path]:
    """A server certificate for `host`, valid `days` days, signed by `ca`; the file holds the chain."""
    cert, key, csr = directory / f"{name}.pem", directory / f"{name}-key.pem", directory / f"{name}.csr"
    extensions = directory / f"{name}.ext"
    extensions.write_text(f"subjectAltName=DNS:{host}\nextendedKeyUsage=serverAuth\n")
    steps = [
        ["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}",
         "-keyout", str(key), "-out", str(csr)],
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
         "-CAcreateserial", "-days", str(days), "-extfile", str(extensions), "-out", str(cert)],
    ]  # fmt: skip
    for step in steps:
        result = run(step)
        assert result.returncode == 0, result.stderr
    cert.write_text(cert.read_text() + ca[0].read_text())  # fullchain.pem: leaf, then the CA
    return cert, key


def render_nginx(
    directory: Path,
    app_port: int,
    https_port: int,
    http_port: int,
    cert: Path | None = None,
    key: Path | None = None,
    edit: Callable[[str], str] | None = None,
) -> Path:
    """The repo's nginx.conf with a test certificate, local ports and paths, in a minimal nginx.conf.

    `edit` may change the site's text afterwards (a test breaking one thing in it)."""
    if cert is None or key is None:
        cert, key = self_signed_certificate(directory)
    site = (DEPLOY / "nginx.conf").read_text()
    for name in ("fullchain.pem", "chain.pem"):
        site = site.replace(f"/etc/letsencrypt/live/{SITE_HOST}/{name}", str(cert))
    site = site.replace(f"/etc/letsencrypt/live/{SITE_HOST}/privkey.pem", str(key))
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
    site = site.replace("/var/log/nginx/", f"{directory}/")
    site = site.replace("/var/www/letsencrypt", f"{directory}/acme")
    site = site.replace(f"server_name {SITE_HOST};", f"server_name {SITE_HOST} 127.0.0.1;")
    if edit is not None:
        site = edit(site)
    (directory / "toolkitrag.conf").write_text(site)
    main = directory / "nginx.conf"
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    main.write_text(
        f"user root;\npid {directory}/nginx.pid;\nerror_log {directory}/error.log;\nevents {{}}\n"
        f"http {{\n include /etc/nginx/mime.types;\n access_log {directory}/access.log;\n"
        f" client_body_temp_path {temp['body']};\n proxy_temp_path {temp['proxy']};\n"
        f" fastcgi_temp_path {temp['fastcgi']};\n uwsgi_temp_path {temp['uwsgi']};\n"
        f" scgi_temp_path {temp['scgi']};\n"
        f" include {directory}/toolkitrag.conf;\n}}\n"
    )
    return main


def https_opener():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test certificate is self-signed
    jar = CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(jar)
    )
    return opener, jar


def wait_until_gone(pid: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


class Stack:
    """gunicorn + nginx on loopback ports, each of which can be stopped and started again."""

    def __init__(self, directory: Path, cert: Path | None = None, key: Path | None = None):
        """Ports are chosen here; call write_env() with the settings before starting anything."""
        self.directory = directory
        self.app_port, self.https_port, self.http_port = free_port(), free_port(), free_port()
        self.app_url = f"http://127.0.0.1:{self.app_port}"
        self.site_url = f"https://127.0.0.1:{self.https_port}"
        self.logs = directory / "logs"
        self.logs.mkdir(exist_ok=True)
        self.env_file = directory / "toolkitrag.env"
        self.env_values: dict[str, str] = {}
        self.base_env = {
            "PATH": os.environ["PATH"],
            "HOME": str(directory),
            "TOOLKITRAG_ENV_FILE": str(self.env_file),
        }
        self.nginx_dir = directory / "nginx"
        self.nginx_dir.mkdir(exist_ok=True)
        self.cert, self.key = cert, key
        self.gunicorn: subprocess.Popen | None = None
        self.nginx_main: Path | None = None

    def write_env(self, values: dict[str, str]) -> None:
        self.env_values = {**values, "GUNICORN_BIND": f"127.0.0.1:{self.app_port}"}
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in self.env_values.items()))
        self.env_file.chmod(0o640)

    def collectstatic(self) -> None:
        collected = run(
            [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=REPO_ROOT, env=self.base_env
        )
        assert collected.returncode == 0, collected.stderr

    def start_gunicorn(self) -> None:
        # Appending (O_APPEND): a test may add or remove lines while the app writes.
        with (self.logs / "app.log").open("ab") as log:
            self.gunicorn = subprocess.Popen(  # noqa: S603 - this checkout's own gunicorn
                [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"), "toolkitrag.wsgi"],
                cwd=REPO_ROOT, env={**self.base_env, "GUNICORN_BIND": self.env_values["GUNICORN_BIND"]},
                stdout=log, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.app_url + "/health", timeout=2)  # noqa: S310 - loopback
                return
            except OSError:
                log_text = (self.logs / "app.log").read_text(errors="replace")[-3000:]
                assert self.gunicorn.poll() is None and time.monotonic() < deadline, log_text
                time.sleep(0.2)

    def stop_gunicorn(self) -> None:
        if self.gunicorn is not None and self.gunicorn.poll() is None:
            self.gunicorn.terminate()
            self.gunicorn.wait(30)
        self.gunicorn = None

    def start_nginx(self, edit: Callable[[str], str] | None = None) -> None:
        self.nginx_main = render_nginx(
            self.nginx_dir, self.app_port, self.https_port, self.http_port, self.cert, self.key, edit
        )
        started = run(["nginx", "-c", str(self.nginx_main), "-p", str(self.nginx_dir)])
        assert started.returncode == 0, started.stderr

    def stop_nginx(self) -> None:
        pid_file = self.nginx_dir / "nginx.pid"
        if self.nginx_main is None or not pid_file.exists():
            return
        pid = int(pid_file.read_text())
        run(["nginx", "-c", str(self.nginx_main), "-p", str(self.nginx_dir), "-s", "stop"])
        wait_until_gone(pid)  # its ports are free only once it has exited

    def restart_nginx(self, edit: Callable[[str], str] | None = None) -> None:
        self.stop_nginx()
        self.start_nginx(edit)

    def stop(self) -> None:
        self.stop_nginx()
        self.stop_gunicorn()

    def as_dict(self) -> dict:
        return {
            "app_url": self.app_url,
            "site_url": self.site_url,
            "env_file": self.env_file,
            "logs": self.logs,
            "base_env": self.base_env,
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
