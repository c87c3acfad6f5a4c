"""A local HTTP server speaking the part of Mistral's API that Vistone uses, so tests run
the real ``mistralai`` client and adapter without the internet.

- ``POST /v1/embeddings``: deterministic 1024-dimensional vectors, a hashed bag of the
  text's lowercased words, so texts sharing words are close and unrelated texts are not.
  Enforces Mistral's request limits (256 inputs, 16,384 tokens per request, 8,192 per
  input) with Mistral's error messages, counting a token per four characters.
- ``POST /v1/chat/completions``: cites the first two sources it was given. Sources are
  lines starting with ``[<source id>]`` in the system messages and the last user message;
  the answer reads ``According to [a] and [b], <start of a's text>``.
- ``Authorization: Bearer <key>`` is checked (401 otherwise).
- Faults for tests: ``fail_next(status, times, retry_after)``, ``delay_next(seconds,
  times)``; every request is logged in ``requests`` as ``(path, json body)``.

    with MistralStandIn() as api:
        settings = MistralSettings(api_key=api.key, server_url=api.url)
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple

DIMENSION = 1024
MAX_INPUTS_PER_REQUEST = 256
MAX_TOKENS_PER_REQUEST = 16_384
MAX_TOKENS_PER_INPUT = 8_192
CHARS_PER_TOKEN = 4

_WORD = re.compile(r"\w+")
_SOURCE_LINE = re.compile(r"^\s*\[([^\[\]\s]+)\]\s*(.*)$", re.MULTILINE)


def count_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def embedding(text: str, scale: float = 1.0) -> list[float]:
    """Signed feature hashing of the lowercased words, unit length times ``scale``."""
    vector = [0.0] * DIMENSION
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest[:4], "big") % DIMENSION
        vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0  # no words: a fixed direction, as a real model gives one
    return [scale * x / norm for x in vector]


def chat_answer(messages: list[dict[str, Any]]) -> str:
    """The stand-in model's reply: cites the first two sources of the context."""
    context = [_text(m.get("content")) for m in messages if m.get("role") == "system"]
    users = [m for m in messages if m.get("role") == "user"]
    if users:
        context.append(_text(users[-1].get("content")))
    sources: dict[str, str] = {}
    for block in context:
        for source_id, source_text in _SOURCE_LINE.findall(block):
            sources.setdefault(source_id, source_text.strip())
    cited = list(sources)[:2]
    if not cited:
        return "I found nothing about that in the sources I was given."
    citations = " and ".join(f"[{source_id}]" for source_id in cited)
    gist = " ".join(sources[cited[0]].split()[:20])
    return f"According to {citations}, {gist}".rstrip(", ") + "."


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content chunks
        return "".join(str(chunk.get("text", "")) for chunk in content if isinstance(chunk, dict))
    return ""


class RecordedRequest(NamedTuple):
    path: str
    body: Any  # the parsed JSON body, or None when it was not JSON


@dataclass
class _Fault:
    status: int
    retry_after: float | str | None
    body: dict[str, Any] | None
    path: str | None


@dataclass
class _Delay:
    seconds: float
    path: str | None


class MistralStandIn:
    def __init__(self, *, key: str | None = None) -> None:
        self.key = key or "test-" + secrets.token_hex(8)
        self.requests: list[RecordedRequest] = []
        self.embedding_scale = 1.0  # real vectors are unit length; tests may scale them
        self._faults: deque[_Fault] = deque()
        self._delays: deque[_Delay] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> MistralStandIn:
        stand_in = self

        class Handler(_Handler):
            api = stand_in

        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="mistral-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes requests sleeping in an injected delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> MistralStandIn:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- test controls ----------------------------------------------------------------

    def fail_next(self, status: int, *, times: int = 1,
                  retry_after: float | str | None = None, body: dict[str, Any] | None = None,
                  path: str | None = None) -> None:
        """Answer the next ``times`` requests (to ``path``, if given) with ``status``;
        ``retry_after``: seconds, or a header value as is (an HTTP date)."""
        with self._lock:
            self._faults.extend(_Fault(status, retry_after, body, path) for _ in range(times))

    def delay_next(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        """Hold the next ``times`` requests for ``seconds`` before answering."""
        with self._lock:
            self._delays.extend(_Delay(seconds, path) for _ in range(times))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._delays.clear()

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    # -- used by the handler ----------------------------------------------------------

    def _take(self, queue: deque[Any], path: str) -> Any:
        with self._lock:
            for index, item in enumerate(queue):
                if item.path is None or item.path == path:
                    del queue[index]
                    return item
        return None

    def _record(self, path: str, body: Any) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(path, body))

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _error(message: str, error_type: str = "invalid_request_error") -> dict[str, Any]:
    return {"object": "error", "message": message, "type": error_type, "param": None,
            "code": None}


def _validation_error(message: str, location: list[str]) -> dict[str, Any]:
    return {"detail": [{"type": "value_error", "loc": location, "msg": message,
                        "input": None}]}


class _Handler(BaseHTTPRequestHandler):
    api: MistralStandIn
    protocol_version = "HTTP/1.1"  # keep-alive, as the client pools connections
    timeout = 10  # an idle kept-alive connection frees its thread after this

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output

    def do_GET(self) -> None:
        self._read_body()
        self._send(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        raw = self._read_body()
        path = self.path.split("?", 1)[0]
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.api._record(path, body)

        delay = self.api._take(self.api._delays, path)
        if delay is not None:
            self.api._sleep(delay.seconds)
        if self.headers.get("Authorization") != f"Bearer {self.api.key}":
            self._send(401, {"message": "Unauthorized", "request_id": secrets.token_hex(8)})
            return
        fault = self.api._take(self.api._faults, path)
        if fault is not None:
            self._send_fault(fault)
            return
        if not isinstance(body, dict):
            self._send(422, _validation_error("Input should be a valid dictionary", ["body"]))
        elif path == "/v1/embeddings":
            self._embeddings(body)
        elif path == "/v1/chat/completions":
            self._chat(body)
        else:
            self._send(404, {"detail": "Not Found"})

    def _embeddings(self, body: dict[str, Any]) -> None:
        inputs = body.get("input")  # the client's ``inputs`` is ``input`` on the wire
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(t, str) for t in inputs):
            self._send(422, _validation_error("input must be a string or a list of strings",
                                              ["body", "input"]))
            return
        if not body.get("model"):
            self._send(422, _validation_error("Field required", ["body", "model"]))
            return
        if len(inputs) > MAX_INPUTS_PER_REQUEST:
            self._send(400, _error("Too many inputs in request, split into more batches."))
            return
        tokens = [count_tokens(text) for text in inputs]
        if any(count > MAX_TOKENS_PER_INPUT for count in tokens):
            self._send(400, _error(f"Input is too long. Max is {MAX_TOKENS_PER_INPUT} "
                                   f"tokens, got {max(tokens)}"))
            return
        if sum(tokens) > MAX_TOKENS_PER_REQUEST:
            self._send(400, _error(f"Too many tokens in batch. Max is "
                                   f"{MAX_TOKENS_PER_REQUEST} got {sum(tokens)}"))
            return
        total = sum(tokens)
        self._send(200, {
            "id": "embd-" + secrets.token_hex(8),
            "object": "list",
            "model": body["model"],
            "data": [{"object": "embedding", "index": index,
                      "embedding": embedding(text, self.api.embedding_scale)}
                     for index, text in enumerate(inputs)],
            "usage": {"prompt_tokens": total, "completion_tokens": 0, "total_tokens": total},
        })

    def _chat(self, body: dict[str, Any]) -> None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) for m in messages):
            self._send(422, _validation_error("messages must be a non-empty list",
                                              ["body", "messages"]))
            return
        if not body.get("model"):
            self._send(422, _validation_error("Field required", ["body", "model"]))
            return
        answer = chat_answer(messages)
        words = answer.split(" ")
        max_tokens = body.get("max_tokens")
        finish_reason = "stop"
        # One token per word in the stand-in's reply, so max_tokens visibly cuts it.
        if isinstance(max_tokens, int) and max_tokens < len(words):
            answer, finish_reason = " ".join(words[:max(max_tokens, 0)]), "length"
        prompt_tokens = sum(count_tokens(_text(m.get("content"))) for m in messages)
        completion_tokens = len(answer.split())
        self._send(200, {
            "id": "chat-" + secrets.token_hex(8),
            "object": "chat.completion",
            "model": body["model"],
            "created": int(time.time()),
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": answer,
                                     "tool_calls": None, "prefix": False}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })

    def _send_fault(self, fault: _Fault) -> None:
        if fault.body is not None:
            payload = fault.body
        elif fault.status == 422:
            payload = _validation_error("injected validation failure", ["body"])
        elif fault.status == 429:
            payload = _error("Requests rate limit exceeded", "rate_limited")
        else:
            payload = _error(f"injected failure {fault.status}", "internal_error")
        headers = {}
        retry_after = fault.retry_after
        if isinstance(retry_after, str):
            headers["Retry-After"] = retry_after
        elif retry_after is not None:
            headers["Retry-After"] = (str(int(retry_after)) if retry_after == int(retry_after)
                                      else str(retry_after))
        self._send(fault.status, payload, headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a test's timeout); nothing to answer
