#!/usr/bin/env python3
"""Ask one question through the proxy and tell whether the streamed answer arrived in pieces.

Used by validate-production.sh (check `stream-pieces`); stdlib only, any Python 3.11. Reads the
answer from the TLS socket itself and notes which network read each Server-Sent Event arrived
in: through a proxy that passes events on, the first token arrives in an earlier read than the
final event; a buffering proxy hands the whole answer over at once. No durations are compared.

The session comes from PROBE_SESSION (never on the command line, where `ps` would show it); it
belongs to the unprivileged probe user (manage.py production_facts --probe-session). Afterwards
the probe deletes the conversation it created and logs the session out.

Usage: PROBE_SESSION=... stream-probe.py SITE_URL [--connect ADDRESS] [--question TEXT]
Prints one line (what happened) and exits 0 (in pieces), 1 (not in pieces) or 2 (could not ask).
"""

import argparse
import bisect
import contextlib
import json
import os
import re
import secrets
import socket
import ssl
import sys
import urllib.parse

STREAM_PATH = "/api/rag/answer/stream"


def open_socket(host: str, port: int, address: str | None, tls: bool) -> socket.socket:
    sock = socket.create_connection((address or host, port), timeout=60)
    if not tls:
        return sock
    context = ssl.create_default_context()
    # The certificate is validate-production.sh's own check (tls-trust); here only streaming counts.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(sock, server_hostname=host)


def request(site: str, address: str | None, method: str, path: str, session: str, body: bytes = b"",
            content_type: str = "application/json") -> tuple[int, bytes, list[int]]:  # fmt: skip
    """One HTTP/1.1 request (Connection: close); returns status, raw body and read boundaries."""
    url = urllib.parse.urlsplit(site)
    tls = url.scheme == "https"
    port = url.port or (443 if tls else 80)
    csrf = secrets.token_hex(16)  # any 32-character token: Django compares cookie and header
    host_header = url.netloc
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n"
        f"Cookie: sessionid={session}; csrftoken={csrf}\r\nX-CSRFToken: {csrf}\r\n"
        f"Referer: {site.rstrip('/')}/\r\nAccept: text/event-stream, application/json\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock = open_socket(url.hostname or "", port, address, tls)
    with sock:
        sock.sendall(head.encode() + body)
        data, boundaries = b"", []
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
            boundaries.append(len(data))
    header_end = data.find(b"\r\n\r\n")
    status_line = data[: data.find(b"\r\n")].decode(errors="replace")
    match = re.match(r"HTTP/1\.[01] (\d{3})", status_line)
    if header_end < 0 or not match:
        raise OSError(f"no HTTP answer from {site}{path}")
    return int(match.group(1)), data[header_end + 4 :], [b - header_end - 4 for b in boundaries]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site")
    parser.add_argument("--connect", help="address to connect to instead of the site's DNS name")
    parser.add_argument("--question", default="What does the toolkit say about reviewing the budget?")
    args = parser.parse_args()
    session = os.environ.get("PROBE_SESSION", "")
    if not session:
        print("no probe session (PROBE_SESSION is empty)")
        return 2
    body = json.dumps({"query": args.question}).encode()
    try:
        status, raw, boundaries = request(
            args.site, args.connect, "POST", "/api/rag/answer/stream", session, body
        )
    except OSError as error:
        print(f"could not ask through {args.site}: {error}")
        return 2
    if status != 200:
        print(f"{STREAM_PATH} answered {status}: {raw[:200].decode(errors='replace')}")
        return 2

    def read_index(position: int) -> int:  # which network read brought the byte at `position`
        return bisect.bisect_right(boundaries, position)

    tokens = [read_index(m.start()) for m in re.finditer(rb"event: token\r?\n", raw)]
    finals = [read_index(m.start()) for m in re.finditer(rb"event: final\r?\n", raw)]
    final_data = {}
    for match in re.finditer(rb"event: final\r?\ndata: (.*)\r?\n", raw):
        with contextlib.suppress(ValueError):
            final_data = json.loads(match.group(1))
    cleanup(args, session, final_data.get("conversation_id"))
    if not tokens or not finals:
        print(f"the stream ended without tokens or a final event ({len(raw)} bytes)")
        return 1
    if final_data.get("extractive") or not final_data.get("answered"):
        print(
            "the probe question was not answered by the chat model (not covered, or no model), so it "
            "came as one piece: set PROBE_QUESTION to a question the toolkit answers"
        )
        return 1
    reads = len(set(tokens))
    if tokens[0] < finals[0] and reads >= 2:
        print(f"{len(tokens)} tokens arrived over {reads} separate reads before the end of the answer")
        return 0
    print(f"all {len(tokens)} tokens arrived in {reads} read(s) together with the end of the answer")
    return 1


def cleanup(args: argparse.Namespace, session: str, conversation_id: object) -> None:
    """Leave nothing behind: the probe's conversation and its session."""
    try:
        if isinstance(conversation_id, int):
            request(args.site, args.connect, "DELETE", f"/api/rag/conversations/{conversation_id}", session)
        request(args.site, args.connect, "POST", "/auth/logout", session, b"",
                "application/x-www-form-urlencoded")  # fmt: skip
    except OSError as error:
        print(f"(cleanup failed: {error})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
