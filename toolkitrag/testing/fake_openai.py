"""A local OpenAI-compatible HTTP server for tests: real sockets, real `openai` client.

Embeddings are deterministic and meaningful: each word maps to a fixed pseudo-random
direction and a text's vector is the normalised sum of its words, so texts sharing words are
close. Tests script failures (HTTP statuses, delays) and read back every request.
"""

import hashlib
import json
import math
import random
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORD = re.compile(r"\w+")


def word_vector(word: str, dimensions: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big")
    rng = random.Random(seed)  # noqa: S311 - deterministic test vectors, not secrets
    return [rng.gauss(0, 1) for _ in range(dimensions)]


def embed(text: str, dimensions: int) -> list[float]:
    total = [0.0] * dimensions
    for word in WORD.findall(text.lower()):
        for i, value in enumerate(word_vector(word, dimensions)):
            total[i] += value
    norm = math.sqrt(sum(v * v for v in total)) or 1.0
    return [v / norm for v in total]


class FakeOpenAI:
    def __init__(self, dimensions: int = 384):
        self.dimensions = dimensions
        self.requests: list[dict] = []  # every request body, in order
        self.script: list[
            dict
        ] = []  # per-request overrides, consumed in order: {"status": 429} / {"delay": 2}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def embedding_inputs(self) -> list[str]:
        return [text for body in self.requests if "input" in body for text in body["input"]]

    def _next_step(self) -> dict:
        with self.lock:
            return self.script.pop(0) if self.script else {}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send_json(self, status: int, payload: dict, headers: dict | None = None) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append(body)
                step = fake._next_step()
                if step.get("delay"):
                    time.sleep(step["delay"])
                if step.get("status"):
                    # retry-after-ms keeps the client's backoff short in tests.
                    self._send_json(
                        step["status"],
                        {"error": {"message": "scripted failure", "type": "server_error"}},
                        {"retry-after-ms": "20"},
                    )
                    return
                if self.path.endswith("/embeddings"):
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    dimensions = body.get("dimensions") or fake.dimensions
                    data = [
                        {"object": "embedding", "index": i, "embedding": embed(text, dimensions)}
                        for i, text in enumerate(inputs)
                    ]
                    usage = {"prompt_tokens": sum(len(t.split()) for t in inputs), "total_tokens": 0}
                    self._send_json(
                        200, {"object": "list", "data": data, "model": body["model"], "usage": usage}
                    )
                    return
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})

        return Handler
