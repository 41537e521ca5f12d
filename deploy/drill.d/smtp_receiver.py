"""The drill's mail server: accepts SMTP on a free loopback port and appends each message to a file.

Production needs EMAIL_URL (sign-up links, invitations, password resets), and validate-production.sh
checks that the server accepts a session. The drill runs under Debian's /usr/bin/python3 with no
packages, so this speaks the few SMTP commands Django's SMTP backend uses (RFC 5321's minimum),
from the standard library only.
"""

import argparse
import socketserver
from pathlib import Path


class SMTPHandler(socketserver.StreamRequestHandler):
    out: Path

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self.reply("220 drill-smtp ESMTP ready")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 drill-smtp")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                self.receive_message()
                self.reply("250 OK: queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")

    def receive_message(self) -> None:
        lines = []
        while True:
            line = self.rfile.readline()
            if not line or line in (b".\r\n", b".\n"):
                break
            lines.append(line[1:] if line.startswith(b"..") else line)  # dot-stuffing undone
        with self.out.open("ab") as out:
            out.write(b"".join(lines) + b"\n--- end of message ---\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url-file", type=Path, required=True, help="where to write smtp://127.0.0.1:PORT")
    parser.add_argument("--out", type=Path, required=True, help="the file messages are appended to")
    args = parser.parse_args()
    SMTPHandler.out = args.out
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler) as server:
        args.url_file.write_text(f"smtp://127.0.0.1:{server.server_address[1]}\n")
        server.serve_forever()


if __name__ == "__main__":
    main()
