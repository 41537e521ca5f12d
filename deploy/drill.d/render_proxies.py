"""Render the repo's proxy configs for the drill: loopback ports, the drill's certificate, paths
under the drill's folder. Stdlib only (Debian's /usr/bin/python3).

What changes is what DEPLOY.md §9 tells an operator to change (the domain, the certificate
paths) plus what a loopback run needs (ports, log and temp paths, no IPv6 listeners); every
other line is the repo's. Like render_nginx in toolkitrag/tests/test_deploy.py.

Usage:
  render_proxies.py nginx SOURCE.conf OUT_DIR DOMAIN APP_PORT HTTPS_PORT HTTP_PORT LIVE_DIR WEBROOT
  render_proxies.py caddy SOURCE_Caddyfile OUT_DIR DOMAIN APP_PORT HTTPS_PORT HTTP_PORT CERT KEY
Writes OUT_DIR/nginx.conf (a whole nginx configuration, `nginx -c` it) or OUT_DIR/Caddyfile.
"""

import re
import sys
from pathlib import Path

EXAMPLE = "toolkit.example.org"


def render_nginx(source: Path, out: Path, domain: str, app_port: str, https: str, http: str,
                 live: str, webroot: str) -> Path:  # fmt: skip
    site = source.read_text()
    site = site.replace(f"/etc/letsencrypt/live/{EXAMPLE}/", live.rstrip("/") + "/")
    site = site.replace("/var/www/letsencrypt", webroot)
    site = site.replace(EXAMPLE, domain)
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http};")
    site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
    site = site.replace("/var/log/nginx/", f"{out}/")
    (out / "toolkitrag.conf").write_text(site + "\n")
    temp = "\n".join(
        f" {name}_temp_path {out}/{name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = out / "nginx.conf"
    main.write_text(
        f"user root;\npid {out}/nginx.pid;\nerror_log {out}/error.log;\nevents {{}}\n"
        f"http {{\n include /etc/nginx/mime.types;\n access_log {out}/access.log;\n{temp}\n"
        f" include {out}/toolkitrag.conf;\n}}\n"
    )
    return main


def render_caddy(source: Path, out: Path, domain: str, app_port: str, https: str, http: str,
                 cert: str, key: str) -> Path:  # fmt: skip
    text = source.read_text().replace(EXAMPLE, domain).replace("127.0.0.1:8000", f"127.0.0.1:{app_port}")
    text = text.replace("/var/log/caddy/", f"{out}/")
    # Global options: loopback ports, no admin API (it would clash with other Caddys on :2019),
    # and the drill's certificate for every site instead of ACME (no public DNS here).
    options = (f"\tadmin off\n\thttp_port {http}\n\thttps_port {https}\n\tdefault_bind 127.0.0.1\n"
               f"\tskip_install_trust\n\tdefault_sni {domain}\n")  # fmt: skip
    text = re.sub(r"^\{\n", "{\n" + options, text, count=1, flags=re.M)
    # Each site block (an address at the start of a line, then `{`) gets `tls CERT KEY`.
    text = re.sub(
        r"^([^\s#{][^\n{]*)\{\n", lambda m: f"{m.group(1)}{{\n\ttls {cert} {key}\n", text, flags=re.M
    )
    path = out / "Caddyfile"
    path.write_text(text)
    return path


if __name__ == "__main__":
    kind, source, out, *rest = sys.argv[1:]
    renderer = {"nginx": render_nginx, "caddy": render_caddy}[kind]
    print(renderer(Path(source), Path(out), *rest))
