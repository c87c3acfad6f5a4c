"""Mistral's hosted models through the official ``mistralai`` client: ``mistral-embed``
(1024 dimensions) as an ``Embedder`` and a chat model for the assistant.

Used only when ``MISTRAL_API_KEY`` is set. The client's own retries are off: the caller is
a queue worker that retries with backoff, and a second hidden retry loop underneath it
would multiply attempts and hide rate limits. Every failure becomes a ``ProviderError``
whose ``retryable`` tells the worker whether another try can help."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2
import pydantic
from mistralai.client import Mistral, errors, models

from vistone.ai.embedders import ProviderError

EMBED_MODEL = "mistral-embed"
EMBED_DIMENSION = 1024
DEFAULT_CHAT_MODEL = "mistral-small-latest"
DEFAULT_TIMEOUT_SECONDS = 30.0

# Mistral's limits on one /v1/embeddings request, as the API enforces them (its errors say
# "Too many inputs in request, split into more batches." past 256 inputs and "Too many
# tokens in batch. Max is 16384"); one input holds at most 8192 tokens. We stay well
# inside them because our token count is an estimate, not Mistral's tokenizer.
API_MAX_INPUTS_PER_REQUEST = 256
API_MAX_TOKENS_PER_REQUEST = 16_384
API_MAX_TOKENS_PER_INPUT = 8_192
MAX_INPUTS_PER_REQUEST = 128
MAX_ESTIMATED_TOKENS_PER_REQUEST = 12_000
# Prose averages about four characters per token; counting three over-estimates, so a
# request we believe holds 12,000 tokens is well under the real 16,384.
CHARS_PER_TOKEN_ESTIMATE = 3
# A longer input is cut, not sent: the API would reject it with a 400 that no retry fixes,
# and the start of a passage represents it well (chunks are about 1,000 characters anyway).
MAX_INPUT_CHARS = 8_000 * CHARS_PER_TOKEN_ESTIMATE

# Worth another try: the request timed out at the server, too early, rate limited, or the
# server failed. Any other 4xx means the request itself is wrong and will fail again.
_RETRYABLE_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class MistralSettings:
    api_key: str = field(repr=False)
    server_url: str | None = None  # None: Mistral's global endpoint
    chat_model: str = DEFAULT_CHAT_MODEL
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


def mistral_settings_from_env(environ: Mapping[str, str] | None = None) -> MistralSettings | None:
    """Settings from ``MISTRAL_*`` variables; None when no API key is set (the offline
    models are used then)."""
    env = os.environ if environ is None else environ
    api_key = env.get("MISTRAL_API_KEY", "").strip()
    if not api_key:
        return None
    raw_timeout = env.get("MISTRAL_TIMEOUT_SECONDS", "").strip()
    try:
        timeout = float(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT_SECONDS
    except ValueError:
        raise ValueError(f"MISTRAL_TIMEOUT_SECONDS must be a number of seconds, "
                         f"not {raw_timeout!r}") from None
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"MISTRAL_TIMEOUT_SECONDS must be positive, not {raw_timeout!r}")
    return MistralSettings(
        api_key=api_key,
        server_url=env.get("MISTRAL_SERVER_URL", "").strip() or None,
        chat_model=env.get("MISTRAL_CHAT_MODEL", "").strip() or DEFAULT_CHAT_MODEL,
        timeout_seconds=timeout,
    )


def _client(settings: MistralSettings) -> Mistral:
    return Mistral(api_key=settings.api_key, server_url=settings.server_url,
                   timeout_ms=max(1, round(settings.timeout_seconds * 1000)),
                   retry_config=None)  # None, not UNSET: UNSET would allow a default policy


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's wait hint: ``retry-after-ms``, or ``Retry-After`` in seconds or as an
    HTTP date."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            value = float(milliseconds) / 1000
            if math.isfinite(value) and value >= 0:
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        seconds = float(raw)
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _provider_error(failure: Exception, operation: str) -> ProviderError:
    """What ``failure`` means to a caller that may retry."""
    if isinstance(failure, errors.ResponseValidationError):
        # A body the client could not parse: the API changed under us; a retry gets the
        # same answer.
        return ProviderError(f"Mistral {operation}: unexpected response: "
                             f"{_short(failure.message)}", retryable=False,
                             status=failure.status_code)
    if isinstance(failure, errors.MistralError):
        status = failure.status_code
        retryable = status in _RETRYABLE_STATUSES or status >= 500
        retry_after = _retry_after_seconds(failure.headers) if retryable else None
        return ProviderError(f"Mistral {operation} failed with HTTP {status}: "
                             f"{_short(failure.body or failure.message)}",
                             retryable=retryable, status=status, retry_after=retry_after)
    if isinstance(failure, httpx2.TimeoutException):
        return ProviderError(f"Mistral {operation} timed out ({type(failure).__name__})",
                             retryable=True)
    if isinstance(failure, errors.NoResponseError | httpx2.TransportError):
        return ProviderError(f"Mistral {operation}: no response ({type(failure).__name__}: "
                             f"{_short(str(failure))})", retryable=True)
    if isinstance(failure, pydantic.ValidationError):
        return ProviderError(f"Mistral {operation}: request rejected by the client: "
                             f"{_short(str(failure))}", retryable=False)
    # httpx2.HTTPError and anything else from the client's stack: an unknown state, so
    # let the worker's bounded retries decide rather than drop the work.
    return ProviderError(f"Mistral {operation} failed: {type(failure).__name__}: "
                         f"{_short(str(failure))}", retryable=True)


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN_ESTIMATE + 1


def request_batches(texts: Sequence[str], *, max_inputs: int = MAX_INPUTS_PER_REQUEST,
                    max_tokens: int = MAX_ESTIMATED_TOKENS_PER_REQUEST
                    ) -> Iterator[list[str]]:
    """Consecutive groups of ``texts``, each within the input and estimated-token limits
    of one request. An input estimated above ``max_tokens`` goes alone."""
    group: list[str] = []
    group_tokens = 0
    for text in texts:
        tokens = estimate_tokens(text)
        if group and (len(group) >= max_inputs or group_tokens + tokens > max_tokens):
            yield group
            group, group_tokens = [], 0
        group.append(text)
        group_tokens += tokens
    if group:
        yield group


def _unit_rows(rows: list[list[float]]) -> list[list[float]]:
    unit = []
    for row in rows:
        norm = math.sqrt(math.fsum(x * x for x in row))
        unit.append([x / norm for x in row] if norm > 0 else list(row))
    return unit


class MistralEmbedder:
    """``mistral-embed``: 1024-dimensional unit vectors, several HTTP requests per call
    when the texts exceed one request's limits."""

    name = f"mistral:{EMBED_MODEL}:{EMBED_DIMENSION}"
    dimension = EMBED_DIMENSION
    batch_size = MAX_INPUTS_PER_REQUEST

    def __init__(self, settings: MistralSettings) -> None:
        self.settings = settings
        self._client = _client(settings)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for group in request_batches([text[:MAX_INPUT_CHARS] for text in texts]):
            vectors.extend(self._embed_request(group))
        return vectors

    def _embed_request(self, texts: list[str]) -> list[list[float]]:
        try:
            response = self._client.embeddings.create(model=EMBED_MODEL, inputs=texts)
        except Exception as failure:  # every failure mode of the client, see _provider_error
            raise _provider_error(failure, "embeddings") from failure
        data = sorted(response.data, key=lambda item: item.index or 0)
        rows = [item.embedding or [] for item in data]
        if len(rows) != len(texts) or any(len(row) != self.dimension for row in rows):
            raise ProviderError(f"Mistral embeddings: expected {len(texts)} vectors of "
                                f"{self.dimension} dimensions, got "
                                f"{[len(row) for row in rows][:5]}…", retryable=False)
        return _unit_rows(rows)

    def close(self) -> None:
        self._client.__exit__(None, None, None)


@dataclass(frozen=True)
class ChatAnswer:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int


_MESSAGE_TYPES: dict[str, Any] = {
    "system": models.SystemMessage,
    "user": models.UserMessage,
    "assistant": models.AssistantMessage,
}


def _answer_text(content: object) -> str:
    """A reply's content: a string, or chunks of which the text ones count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(chunk.text for chunk in content if isinstance(chunk, models.TextChunk))
    return ""  # None or UNSET: the model said nothing


class MistralChat:
    """One chat completion per call, at a low temperature: the assistant answers from the
    sources it is given, not creatively."""

    def __init__(self, settings: MistralSettings, *, model: str | None = None,
                 temperature: float = 0.2) -> None:
        self.settings = settings
        self.model = model or settings.chat_model
        self.temperature = temperature
        self._client = _client(settings)

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int) -> ChatAnswer:
        """``messages``: ``{"role": "system" | "user" | "assistant", "content": ...}``."""
        request_messages = []
        for message in messages:
            message_type = _MESSAGE_TYPES.get(message.get("role", ""))
            if message_type is None:
                raise ValueError(f"unsupported chat role {message.get('role')!r}")
            request_messages.append(message_type(content=message.get("content", "")))
        try:
            response = self._client.chat.complete(model=self.model, messages=request_messages,
                                                  max_tokens=max_tokens,
                                                  temperature=self.temperature)
        except Exception as failure:  # every failure mode of the client, see _provider_error
            raise _provider_error(failure, "chat") from failure
        if not response.choices:
            raise ProviderError("Mistral chat: the response has no choices", retryable=False)
        reply = response.choices[0].message
        return ChatAnswer(
            text=_answer_text(reply.content if reply is not None else None),
            model=response.model or self.model,
            prompt_tokens=response.usage.prompt_tokens or 0,
            completion_tokens=response.usage.completion_tokens or 0,
        )

    def close(self) -> None:
        self._client.__exit__(None, None, None)
