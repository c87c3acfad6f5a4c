"""The Mistral adapter, through the real ``mistralai`` client over HTTP, against the local
stand-in of Mistral's API: vectors, batching within the API's limits, chat answers, and
how each failure reaches the retrying worker (one HTTP attempt per call, no hidden
retries)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from tests.stand_ins.mistral_api import (
    MAX_INPUTS_PER_REQUEST,
    MAX_TOKENS_PER_REQUEST,
    MistralStandIn,
    count_tokens,
)
from vistone.ai.embedders import Embedder, ProviderError
from vistone.ai.mistral import (
    DEFAULT_CHAT_MODEL,
    MAX_INPUT_CHARS,
    ChatAnswer,
    MistralChat,
    MistralEmbedder,
    MistralSettings,
    mistral_settings_from_env,
)

EMBEDDINGS = "/v1/embeddings"
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def stand_in() -> Iterator[MistralStandIn]:
    with MistralStandIn() as api:
        yield api


@pytest.fixture
def api(stand_in: MistralStandIn) -> MistralStandIn:
    stand_in.reset()
    stand_in.embedding_scale = 1.0
    return stand_in


@pytest.fixture
def settings(api: MistralStandIn) -> MistralSettings:
    return MistralSettings(api_key=api.key, server_url=api.url, timeout_seconds=5)


@pytest.fixture
def embedder(settings: MistralSettings) -> Iterator[MistralEmbedder]:
    embedder = MistralEmbedder(settings)
    yield embedder
    embedder.close()


@pytest.fixture
def chat(settings: MistralSettings) -> Iterator[MistralChat]:
    chat = MistralChat(settings)
    yield chat
    chat.close()


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


# -- embeddings ---------------------------------------------------------------------------


def test_embedder_satisfies_the_protocol_and_names_model_and_dimension(
        embedder: MistralEmbedder) -> None:
    as_protocol: Embedder = embedder
    assert as_protocol.name == "mistral:mistral-embed:1024"
    assert as_protocol.dimension == 1024
    assert 1 <= as_protocol.batch_size <= MAX_INPUTS_PER_REQUEST


def test_embeddings_are_unit_vectors_in_input_order_and_texts_sharing_words_are_close(
        api: MistralStandIn, embedder: MistralEmbedder) -> None:
    api.embedding_scale = 7.5  # the adapter must normalize whatever length it receives
    texts = ["Deploy the billing service on Friday",
             "billing service deploy moved to Monday",
             "Lunch menu: pasta and salad"]
    vectors = embedder.embed(texts)

    assert len(vectors) == 3
    assert all(len(vector) == 1024 for vector in vectors)
    assert all(abs(norm(vector) - 1.0) < 1e-9 for vector in vectors)
    assert cosine(vectors[0], vectors[1]) > 0.4  # three of six words shared
    assert abs(cosine(vectors[0], vectors[2])) < 0.3
    (request,) = api.requests_to(EMBEDDINGS)
    assert request.body["model"] == "mistral-embed"
    assert request.body["input"] == texts
    # Order: each vector is the one its text gets on its own.
    assert embedder.embed([texts[2]])[0] == pytest.approx(vectors[2])


def test_no_texts_make_no_request(api: MistralStandIn, embedder: MistralEmbedder) -> None:
    assert embedder.embed([]) == []
    assert api.requests == []


def test_a_big_batch_is_split_into_requests_within_the_api_limits(
        api: MistralStandIn, embedder: MistralEmbedder) -> None:
    # 1,000-character chunks: a worker's batch is far above one request's 16,384 tokens.
    texts = [f"chunk {i} " + ("the quarterly report covers revenue and churn " * 25)[:990]
             for i in range(embedder.batch_size)]
    assert sum(count_tokens(text) for text in texts) > MAX_TOKENS_PER_REQUEST

    vectors = embedder.embed(texts)

    requests = api.requests_to(EMBEDDINGS)
    assert len(requests) > 1
    sent = [text for request in requests for text in request.body["input"]]
    assert sent == texts  # each text once, in order
    for request in requests:
        assert len(request.body["input"]) <= MAX_INPUTS_PER_REQUEST
        assert sum(count_tokens(text) for text in request.body["input"]) \
            <= MAX_TOKENS_PER_REQUEST
    assert len(vectors) == len(texts)
    assert vectors[5] == pytest.approx(embedder.embed([texts[5]])[0])


def test_many_short_texts_respect_the_input_count_limit(
        api: MistralStandIn, embedder: MistralEmbedder) -> None:
    texts = [f"note {i}" for i in range(MAX_INPUTS_PER_REQUEST + 100)]
    vectors = embedder.embed(texts)

    requests = api.requests_to(EMBEDDINGS)
    assert len(requests) >= 2
    assert all(len(r.body["input"]) <= MAX_INPUTS_PER_REQUEST for r in requests)
    assert len(vectors) == len(texts)


def test_an_overlong_text_is_cut_to_fit_one_input(
        api: MistralStandIn, embedder: MistralEmbedder) -> None:
    vectors = embedder.embed(["word " * 20_000])  # 100,000 characters, ~25,000 tokens
    assert len(vectors) == 1
    (request,) = api.requests_to(EMBEDDINGS)
    assert len(request.body["input"][0]) == MAX_INPUT_CHARS


# -- chat ---------------------------------------------------------------------------------


def test_chat_answer_cites_the_sources_and_reports_tokens(
        api: MistralStandIn, chat: MistralChat) -> None:
    messages = [
        {"role": "system", "content": "Answer from the sources and cite them by id."},
        {"role": "user", "content": "Sources:\n[task:41#0] The release is planned for May.\n"
                                    "[msg:7#2] QA signed off yesterday.\n"
                                    "[msg:9#0] Unrelated.\n\nQuestion: when is the release?"},
    ]
    answer = chat.complete(messages, max_tokens=200)

    assert isinstance(answer, ChatAnswer)
    assert answer.text.startswith("According to [task:41#0] and [msg:7#2],")
    assert "[msg:9#0]" not in answer.text
    assert answer.model == DEFAULT_CHAT_MODEL
    assert answer.prompt_tokens > 0
    assert answer.completion_tokens == len(answer.text.split())

    (request,) = api.requests_to(CHAT)
    assert request.body["model"] == DEFAULT_CHAT_MODEL
    assert request.body["max_tokens"] == 200
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
    assert request.body["messages"][1]["content"] == messages[1]["content"]


def test_chat_model_and_max_tokens_are_passed_through(
        api: MistralStandIn, settings: MistralSettings) -> None:
    chat = MistralChat(settings, model="mistral-large-latest")
    try:
        answer = chat.complete([{"role": "user", "content": "[a] one two three four five"}],
                               max_tokens=3)
    finally:
        chat.close()
    assert answer.model == "mistral-large-latest"
    assert answer.completion_tokens == 3
    assert answer.text == "According to [a],"


def test_chat_rejects_an_unknown_role_before_any_request(
        api: MistralStandIn, chat: MistralChat) -> None:
    with pytest.raises(ValueError, match="role"):
        chat.complete([{"role": "wizard", "content": "hi"}], max_tokens=10)
    assert api.requests == []


# -- failures -----------------------------------------------------------------------------


def test_rate_limit_is_retryable_with_the_servers_retry_after(
        api: MistralStandIn, embedder: MistralEmbedder) -> None:
    api.fail_next(429, retry_after=7)
    with pytest.raises(ProviderError) as raised:
        embedder.embed(["hello"])
    assert raised.value.retryable is True
    assert raised.value.status == 429
    assert raised.value.retry_after == 7
    assert len(api.requests) == 1  # the client did not retry on its own


def test_rate_limit_on_chat_is_retryable_too(api: MistralStandIn, chat: MistralChat) -> None:
    api.fail_next(429, times=2, retry_after=1.5)
    for _ in range(2):
        with pytest.raises(ProviderError) as raised:
            chat.complete([{"role": "user", "content": "hi"}], max_tokens=5)
        assert (raised.value.retryable, raised.value.retry_after) == (True, 1.5)
    assert len(api.requests) == 2
    assert chat.complete([{"role": "user", "content": "hi"}], max_tokens=50).text


def test_retry_after_as_an_http_date_becomes_seconds(
        api: MistralStandIn, embedder: MistralEmbedder) -> None:
    api.fail_next(503, retry_after=formatdate(time.time() + 120, usegmt=True))
    with pytest.raises(ProviderError) as raised:
        embedder.embed(["hello"])
    assert raised.value.retryable is True
    assert raised.value.retry_after is not None
    assert 110 <= raised.value.retry_after <= 121


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable_and_tried_once(
        api: MistralStandIn, embedder: MistralEmbedder, status: int) -> None:
    api.fail_next(status, times=5)
    with pytest.raises(ProviderError) as raised:
        embedder.embed(["hello"])
    assert raised.value.retryable is True
    assert raised.value.status == status
    assert raised.value.retry_after is None
    assert len(api.requests) == 1


@pytest.mark.parametrize("status", [400, 403, 422])
def test_request_errors_are_not_retryable(
        api: MistralStandIn, embedder: MistralEmbedder, status: int) -> None:
    api.fail_next(status, retry_after=3)
    with pytest.raises(ProviderError) as raised:
        embedder.embed(["hello"])
    assert raised.value.retryable is False
    assert raised.value.status == status
    assert raised.value.retry_after is None
    assert len(api.requests) == 1


def test_a_wrong_key_is_not_retryable(api: MistralStandIn) -> None:
    chat = MistralChat(MistralSettings(api_key="wrong-key", server_url=api.url))
    try:
        with pytest.raises(ProviderError) as raised:
            chat.complete([{"role": "user", "content": "hi"}], max_tokens=5)
    finally:
        chat.close()
    assert raised.value.retryable is False
    assert raised.value.status == 401
    assert "wrong-key" not in str(raised.value)
    assert len(api.requests) == 1


def test_a_slow_answer_times_out_as_retryable_after_one_attempt(api: MistralStandIn) -> None:
    embedder = MistralEmbedder(MistralSettings(api_key=api.key, server_url=api.url,
                                               timeout_seconds=0.3))
    api.delay_next(3, times=3)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderError) as raised:
            embedder.embed(["hello"])
    finally:
        embedder.close()
    assert time.monotonic() - started < 2
    assert raised.value.retryable is True
    assert raised.value.status is None
    assert "timed out" in str(raised.value)
    assert len(api.requests) == 1


def test_an_unreachable_server_is_retryable() -> None:
    with MistralStandIn() as gone:
        url, key = gone.url, gone.key
    embedder = MistralEmbedder(MistralSettings(api_key=key, server_url=url, timeout_seconds=2))
    try:
        with pytest.raises(ProviderError) as raised:
            embedder.embed(["hello"])
    finally:
        embedder.close()
    assert raised.value.retryable is True
    assert raised.value.status is None


def test_a_failure_after_recovery_does_not_linger(
        api: MistralStandIn, embedder: MistralEmbedder) -> None:
    api.fail_next(503)
    with pytest.raises(ProviderError):
        embedder.embed(["hello"])
    assert len(embedder.embed(["hello"])) == 1
    assert len(api.requests) == 2


# -- settings -----------------------------------------------------------------------------


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MISTRAL_API_KEY", "MISTRAL_SERVER_URL", "MISTRAL_CHAT_MODEL",
                 "MISTRAL_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    assert mistral_settings_from_env() is None
    monkeypatch.setenv("MISTRAL_API_KEY", "  ")
    assert mistral_settings_from_env() is None

    monkeypatch.setenv("MISTRAL_API_KEY", "secret-key")
    defaults = mistral_settings_from_env()
    assert defaults == MistralSettings(api_key="secret-key", server_url=None,
                                       chat_model="mistral-small-latest",
                                       timeout_seconds=30.0)
    assert "secret-key" not in repr(defaults)

    monkeypatch.setenv("MISTRAL_SERVER_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MISTRAL_CHAT_MODEL", "mistral-large-latest")
    monkeypatch.setenv("MISTRAL_TIMEOUT_SECONDS", "2.5")
    assert mistral_settings_from_env() == MistralSettings(
        api_key="secret-key", server_url="http://127.0.0.1:9",
        chat_model="mistral-large-latest", timeout_seconds=2.5)

    monkeypatch.setenv("MISTRAL_TIMEOUT_SECONDS", "soon")
    with pytest.raises(ValueError, match="MISTRAL_TIMEOUT_SECONDS"):
        mistral_settings_from_env()
    monkeypatch.setenv("MISTRAL_TIMEOUT_SECONDS", "0")
    with pytest.raises(ValueError, match="MISTRAL_TIMEOUT_SECONDS"):
        mistral_settings_from_env()


def test_settings_from_env_reach_the_stand_in(api: MistralStandIn,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", api.key)
    monkeypatch.setenv("MISTRAL_SERVER_URL", api.url)
    settings = mistral_settings_from_env()
    assert settings is not None
    embedder = MistralEmbedder(settings)
    try:
        assert len(embedder.embed(["through the environment"])[0]) == 1024
    finally:
        embedder.close()
    assert len(api.requests_to(EMBEDDINGS)) == 1
