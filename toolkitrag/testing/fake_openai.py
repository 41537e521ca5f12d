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
from collections.abc import Callable
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


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out or hung up is part of the tests, not an error


def default_reply(messages: list[dict]) -> str:
    """Answer from source [1]: its first sentence, cited."""
    user = messages[-1]["content"]
    if "Sources:" not in user:  # e.g. a question-rewriting call
        return "Standalone: " + user
    first_source = user.split("[1]", 1)[1].split("\n", 1)[1]
    sentence = first_source.split(". ")[0].strip().rstrip(".")
    return f"According to the toolkit, {sentence} [1]."


class FakeOpenAI:
    def __init__(self, dimensions: int = 384):
        self.dimensions = dimensions
        self.chat_reply = default_reply  # messages -> answer text
        self.token_delay = 0.0  # seconds between streamed tokens
        # Called with a token's index before it is streamed; a test can hold the model back until
        # the client has seen the tokens before it (a streaming check that no machine load breaks).
        self.before_token: Callable[[int], None] | None = None
        self.requests: list[dict] = []  # every request body, in order
        self.script: list[
            dict
        ] = []  # per-request overrides, consumed in order: {"status": 429, "retry_after": 30} /
        # {"delay": 2} / {"cut_after": 3} (hang up) / {"malformed_after": 2} (bad JSON) / {"html": True}
        self.lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        # stop() waits up to one poll interval; the default 0.5 s, paid by every test, added up.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def chat_requests(self) -> list[dict]:
        return [body for body in self.requests if "messages" in body]

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
                    # retry-after-ms keeps the client's backoff short in tests, unless scripted.
                    wait = {"retry-after": str(step["retry_after"])} if "retry_after" in step else {}
                    self._send_json(
                        step["status"],
                        {"error": {"message": "scripted failure", "type": "server_error"}},
                        wait or {"retry-after-ms": "20"},
                    )
                    return
                if step.get("html"):  # a proxy's error page where JSON or a stream belongs
                    page = b"<html><body>502 Bad Gateway</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                if self.path.endswith("/chat/completions"):
                    self._chat(body, step)
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

            def _chat(self, body: dict, step: dict) -> None:
                text = fake.chat_reply(body["messages"])
                tokens = re.findall(r"\S+\s*", text)
                base = {"id": "chatcmpl-test", "created": int(time.time()), "model": body["model"]}
                if not body.get("stream"):
                    message = {"role": "assistant", "content": text}
                    choice = {"index": 0, "message": message, "finish_reason": "stop"}
                    usage = {
                        "prompt_tokens": 10,
                        "completion_tokens": len(tokens),
                        "total_tokens": 10 + len(tokens),
                    }
                    self._send_json(
                        200, {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
                    )
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def send(payload) -> None:
                    data = f"data: {payload}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()

                def chunk(delta: dict, finish=None) -> str:
                    choice = {"index": 0, "delta": delta, "finish_reason": finish}
                    return json.dumps({**base, "object": "chat.completion.chunk", "choices": [choice]})

                send(chunk({"role": "assistant", "content": ""}))
                for i, token in enumerate(tokens):
                    if step.get("cut_after") is not None and i >= step["cut_after"]:
                        self.close_connection = True
                        return  # hang up mid-stream: no final chunk, no terminating zero-size chunk
                    if fake.before_token is not None:
                        fake.before_token(i)
                    if fake.token_delay:
                        time.sleep(fake.token_delay)
                    if step.get("malformed_after") is not None and i >= step["malformed_after"]:
                        send('{"id": "chatcmpl-test", "choices": [{"delta": {"content": "unterminated')
                        continue
                    send(chunk({"content": token}))
                send(chunk({}, "stop"))
                usage = {
                    "prompt_tokens": 10,
                    "completion_tokens": len(tokens),
                    "total_tokens": 10 + len(tokens),
                }
                send(json.dumps({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
                send("[DONE]")
                self.wfile.write(b"0\r\n\r\n")

        Handler.protocol_version = "HTTP/1.1"
        return Handler
