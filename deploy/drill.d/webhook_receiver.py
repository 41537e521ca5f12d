"""The drill's alert webhook: accepts POSTs and appends each body as one line to a file.

Stdlib only (Debian's /usr/bin/python3). Stands in for the chat/incident webhook that
deploy/healthcheck.sh posts alerts to (ALERT_WEBHOOK_URL). Writes its URL to --url-file once
listening, then serves until SIGTERM.
Usage: python3 webhook_receiver.py --url-file F --out ALERTS
"""

import argparse
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url-file", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock, args.out.open("ab") as out:
                out.write(body.replace(b"\n", b" ") + b"\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    args.url_file.write_text(f"http://127.0.0.1:{server.server_address[1]}/alert\n")
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
