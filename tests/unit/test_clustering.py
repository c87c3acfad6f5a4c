"""Chats in clusters (vistone/ai/clustering.py) on synthetic embeddings: topics are unit
vectors scattered around well-separated centres, each with its own vocabulary, so the right
answer is known and every property of a cluster can be checked against it."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vistone.ai.clustering import MAX_ITEMS, Cluster, ClusterInput, cluster_messages

DIMENSION = 256
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

TOPICS = {
    "billing": ["invoice", "payment", "overdue", "refund", "receipt", "accountant", "billing"],
    "deploy": ["deploy", "staging", "server", "rollback", "pipeline", "kubernetes", "release"],
    "design": ["logo", "colours", "typography", "mockup", "palette", "illustration", "branding"],
    "hiring": ["interview", "candidate", "resume", "recruiter", "onboarding", "salary", "offer"],
}
# Words of every topic (stop words, short words, numbers, mixed tokens, common words):
# none may become a term.
FILLER = ["the", "and", "we", "can", "please", "check", "today", "again", "ok", "it", "2024",
          "v2", "abc123"]


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def uuid_from(rng: np.random.Generator) -> UUID:
    return UUID(bytes=rng.bytes(16), version=4)


def topic_centres(rng: np.random.Generator, count: int, *, shared: float = 1.0) -> np.ndarray:
    """Centres with cosine shared² / (1 + shared²) between them (0.5 by default): like real
    embeddings, one workspace's topics lean the same way, so a stray message on none of
    them (a random direction, nearly orthogonal to everything in 256 dimensions) is farther
    from every topic than the topics are from each other, which is what makes it noise to
    HDBSCAN. ``shared=0``: unrelated, nearly orthogonal centres."""
    common = unit(rng.normal(size=DIMENSION))
    return np.array([unit(shared * common + unit(rng.normal(size=DIMENSION)))
                     for _ in range(count)])


def topic_text(rng: np.random.Generator, topic: str) -> str:
    words = [str(w) for w in rng.choice(TOPICS[topic], size=3)]
    words += [str(w) for w in rng.choice(FILLER, size=4)]
    rng.shuffle(words)
    return " ".join(words)


def around(rng: np.random.Generator, centre: np.ndarray, spread: float = 0.03) -> list[float]:
    # Noise of norm about 0.5 around a unit centre: cosine about 0.9 to it.
    return [float(x) for x in unit(centre + rng.normal(scale=spread, size=len(centre)))]


def make_topics(sizes: dict[str, int], *, seed: int = 1, noise: int = 0,
                start: datetime = START, apart: frozenset[str] = frozenset()
                ) -> tuple[list[ClusterInput], dict[str, set[UUID]], set[UUID]]:
    """Messages of each topic interleaved in time, plus ``noise`` unrelated messages; the
    topics in ``apart`` do not lean the way the others do."""
    rng = np.random.default_rng(seed)
    centres = dict(zip(sizes, topic_centres(rng, len(sizes)), strict=True))
    for topic in apart:
        centres[topic] = topic_centres(rng, 1, shared=0.0)[0]
    labels = [topic for topic, size in sizes.items() for _ in range(size)] + ["noise"] * noise
    rng.shuffle(labels)
    items: list[ClusterInput] = []
    members: dict[str, set[UUID]] = {topic: set() for topic in sizes}
    noise_ids: set[UUID] = set()
    for minute, topic in enumerate(labels):
        identifier = uuid_from(rng)
        at = start + timedelta(minutes=minute)
        if topic == "noise":
            embedding = [float(x) for x in unit(rng.normal(size=DIMENSION))]
            items.append(ClusterInput(identifier, "lunch anyone", embedding, at))
            noise_ids.add(identifier)
        else:
            items.append(ClusterInput(identifier, topic_text(rng, topic),
                                      around(rng, centres[topic]), at))
            members[topic].add(identifier)
    return items, members, noise_ids


def topic_of(cluster: Cluster, members: dict[str, set[UUID]]) -> str:
    (topic,) = [name for name, ids in members.items() if ids == set(cluster.message_ids)]
    return topic


SIZES = {"billing": 40, "deploy": 30, "design": 25, "hiring": 20}


def test_finds_each_topic_as_exactly_one_cluster_and_leaves_the_noise_unclustered() -> None:
    items, members, noise_ids = make_topics(SIZES, noise=6)

    result = cluster_messages(items)

    assert len(result.clusters) == 4
    # Purity and completeness at once: each cluster is exactly one topic's messages.
    assert sorted(topic_of(c, members) for c in result.clusters) == sorted(SIZES)
    assert set(result.unclustered_ids) == noise_ids


def test_clusters_are_largest_first_with_sizes_and_time_spans_of_their_messages() -> None:
    items, members, _ = make_topics(SIZES, noise=3)
    by_id = {item.id: item for item in items}

    result = cluster_messages(items)

    assert [topic_of(c, members) for c in result.clusters] == list(SIZES)  # sizes descend
    for cluster in result.clusters:
        times = [by_id[i].created_at for i in cluster.message_ids]
        assert cluster.size == len(cluster.message_ids) == SIZES[topic_of(cluster, members)]
        assert cluster.first_at == min(times) and cluster.last_at == max(times)
        assert times == sorted(times, reverse=True)  # newest first
    unclustered_times = [by_id[i].created_at for i in result.unclustered_ids]
    assert unclustered_times == sorted(unclustered_times, reverse=True)


def test_equal_sizes_put_the_most_recently_active_cluster_first() -> None:
    older, older_members, _ = make_topics({"billing": 10}, seed=2)
    newer, newer_members, _ = make_topics({"deploy": 10}, seed=3,
                                          start=START + timedelta(days=1))

    result = cluster_messages(newer + older)  # the input's order must not matter

    assert [set(c.message_ids) for c in result.clusters] == [newer_members["deploy"],
                                                             older_members["billing"]]


def test_labels_are_the_topics_own_words_without_stop_words_numbers_or_short_tokens() -> None:
    items, members, _ = make_topics(SIZES, noise=4)

    for cluster in cluster_messages(items).clusters:
        vocabulary = TOPICS[topic_of(cluster, members)]
        assert 3 <= len(cluster.terms) <= 5
        assert cluster.label == ", ".join(cluster.terms)
        # FILLER is in every cluster: class-based TF-IDF ranks only the topic's words.
        assert set(cluster.terms) <= set(vocabulary), cluster.terms


def test_representatives_are_the_members_closest_to_the_centroid_closest_first() -> None:
    items, _, _ = make_topics(SIZES, noise=2)
    vectors = {item.id: np.asarray(item.embedding) for item in items}

    for cluster in cluster_messages(items).clusters:
        assert len(cluster.representative_ids) == 3
        assert set(cluster.representative_ids) <= set(cluster.message_ids)
        centroid = np.mean([vectors[i] for i in cluster.message_ids], axis=0)
        by_closeness = sorted(cluster.message_ids, key=lambda i: -float(vectors[i] @ centroid))
        assert list(cluster.representative_ids) == by_closeness[:3]


def test_representatives_skip_repeated_texts() -> None:
    rng = np.random.default_rng(4)
    centre = topic_centres(rng, 1)[0]
    texts = ["Deploy done!", "deploy   DONE!", "deploy done!", "staging is down", "rollback?"]
    items = [ClusterInput(uuid_from(rng), text, around(rng, centre, spread=0.01),
                          START + timedelta(minutes=n)) for n, text in enumerate(texts)]

    (cluster,) = cluster_messages(items).clusters

    by_id = {item.id: item.text.casefold().split() for item in items}
    chosen = [by_id[i] for i in cluster.representative_ids]
    assert len(chosen) == 3 and len({tuple(words) for words in chosen}) == 3


def test_same_messages_in_any_order_give_the_same_answer() -> None:
    items, _, _ = make_topics(SIZES, noise=5)
    shuffled = list(items)
    random.Random(5).shuffle(shuffled)

    first = cluster_messages(items)

    assert cluster_messages(items) == first
    assert cluster_messages(shuffled) == first
    assert cluster_messages(list(reversed(items))) == first


def test_messages_at_the_same_instant_still_give_one_answer() -> None:
    items, _, _ = make_topics({"billing": 12, "deploy": 12}, noise=2)
    same_time = [replace(item, created_at=START) for item in items]
    shuffled = list(same_time)
    random.Random(6).shuffle(shuffled)

    assert cluster_messages(shuffled) == cluster_messages(same_time)


def test_unicode_empty_and_duplicate_texts_are_clustered_and_labelled() -> None:
    rng = np.random.default_rng(7)
    centres = topic_centres(rng, 2)
    german = ["Rechnung überfällig, bitte Zahlung prüfen", "Zahlung für die Rechnung fehlt",
              "Rechnung überfällig", "", "Rechnung überfällig"]
    emoji = ["🚀 déploiement terminé", "déploiement échoué 😢", "", "🚀", "déploiement prêt"]
    items = [ClusterInput(uuid_from(rng), text, around(rng, centres[topic]),
                          START + timedelta(minutes=10 * topic + n))
             for topic, texts in enumerate([german, emoji]) for n, text in enumerate(texts)]

    clusters = cluster_messages(items).clusters

    assert len(clusters) == 2
    labels = sorted(c.terms[0] for c in clusters)
    assert labels == ["déploiement", "rechnung"]


def test_clusters_without_words_have_no_terms_and_an_empty_label() -> None:
    rng = np.random.default_rng(8)
    centre = topic_centres(rng, 1)[0]
    items = [ClusterInput(uuid_from(rng), text, around(rng, centre), START)
             for text in ["", "👍", "ok", "12 34", "!!"]]

    (cluster,) = cluster_messages(items).clusters

    assert cluster.terms == () and cluster.label == ""


def test_empty_input() -> None:
    result = cluster_messages([])
    assert result.clusters == [] and result.unclustered_ids == ()


def test_fewer_messages_than_the_smallest_cluster_are_unclustered() -> None:
    items, _, _ = make_topics({"billing": 2})
    result = cluster_messages(items)
    assert result.clusters == []
    assert set(result.unclustered_ids) == {item.id for item in items}


def test_a_small_set_on_one_topic_is_one_cluster() -> None:
    items, members, _ = make_topics({"billing": 4})

    (cluster,) = cluster_messages(items).clusters

    assert set(cluster.message_ids) == members["billing"]
    # One cluster and nothing else: no contrast, so terms rank by frequency alone.
    words = {word for item in items for word in item.text.split()}
    assert 3 <= len(cluster.terms) <= 5 and set(cluster.terms) <= words
    assert not set(cluster.terms) & {"the", "and", "again", "2024", "abc123", "ok"}


def test_a_small_set_on_mixed_subjects_is_unclustered() -> None:
    unrelated, _, _ = make_topics({"billing": 1, "deploy": 1, "design": 1, "hiring": 1},
                                  apart=frozenset(TOPICS))
    # Three on one topic and two strays: the strays are far from the rest on average.
    mixed, _, _ = make_topics({"billing": 3, "deploy": 1, "design": 1},
                              apart=frozenset(TOPICS))

    for items in (unrelated, mixed):
        result = cluster_messages(items)
        assert result.clusters == []
        assert len(result.unclustered_ids) == len(items)


def test_cohesion_decides_a_small_set() -> None:
    items, _, _ = make_topics({"billing": 3, "deploy": 1, "design": 1},
                              apart=frozenset(TOPICS))
    assert len(cluster_messages(items, cohesion=-1.0).clusters) == 1
    assert cluster_messages(items, cohesion=0.99).clusters == []


def test_a_larger_minimum_leaves_smaller_topics_unclustered() -> None:
    # Apart: HDBSCAN labels a group too small to be a cluster with the cluster it falls
    # out of, so a small group close to one topic would join it.
    items, members, _ = make_topics({"billing": 30, "deploy": 30, "design": 8},
                                    apart=frozenset({"design"}))

    result = cluster_messages(items, min_cluster_size=10)

    assert sorted(topic_of(c, members) for c in result.clusters) == ["billing", "deploy"]
    assert set(result.unclustered_ids) == members["design"]


def test_embeddings_need_not_be_unit_length_nor_256_dimensional() -> None:
    rng = np.random.default_rng(10)
    centres = np.eye(8)[:2]
    items = [ClusterInput(uuid_from(rng), "x", [5.0 * float(x) for x in around(rng, c, 0.01)],
                          START + timedelta(minutes=n))
             for n, c in enumerate([centres[0]] * 6 + [centres[1]] * 6)]

    clusters = cluster_messages(items).clusters

    assert sorted(c.size for c in clusters) == [6, 6]


def message(embedding: Sequence[float], *, at: datetime = START,
            identifier: UUID | None = None) -> ClusterInput:
    rng = np.random.default_rng(len(embedding))
    return ClusterInput(identifier or uuid_from(rng), "text", embedding, at)


@pytest.mark.parametrize(("embeddings", "error"), [
    ([[1.0, 0.0], [1.0, 0.0, 0.0]], "one dimension: message .* has 3, message .* has 2"),
    ([[1.0, 0.0], [math.nan, 1.0]], "NaN or infinite"),
    ([[1.0, 0.0], [math.inf, 1.0]], "NaN or infinite"),
    ([[1.0, 0.0], [0.0, 0.0]], "all-zero embedding"),
    ([[], []], "empty embedding"),
])
def test_embeddings_are_validated(embeddings: list[list[float]], error: str) -> None:
    items = [ClusterInput(UUID(int=n + 1), "text", e, START + timedelta(minutes=n))
             for n, e in enumerate(embeddings)]
    with pytest.raises(ValueError, match=error):
        cluster_messages(items)


def test_the_offending_message_is_named() -> None:
    bad = UUID(int=99)
    items = [ClusterInput(UUID(int=1), "a", [1.0, 0.0], START),
             ClusterInput(bad, "b", [math.nan, 0.0], START)]
    with pytest.raises(ValueError, match=str(bad)):
        cluster_messages(items)


def test_other_inputs_are_validated() -> None:
    one = ClusterInput(UUID(int=1), "a", [1.0, 0.0], START)
    with pytest.raises(ValueError, match="given twice"):
        cluster_messages([one, replace(one, text="b")])
    naive = ClusterInput(UUID(int=2), "b", [1.0, 0.0], datetime(2025, 3, 1))
    with pytest.raises(ValueError, match="timezone-aware or all naive"):
        cluster_messages([one, naive])
    with pytest.raises(ValueError, match="at least 2"):
        cluster_messages([one], min_cluster_size=1)
    too_many = [ClusterInput(UUID(int=n + 1), "", [1.0], START) for n in range(MAX_ITEMS + 1)]
    with pytest.raises(ValueError, match=f"newest {MAX_ITEMS}"):
        cluster_messages(too_many)


@st.composite
def message_sets(draw: st.DrawFn) -> tuple[list[ClusterInput], int]:
    """Any set: a few clumps and strays, repeated vectors and instants, any text."""
    dimension = draw(st.integers(1, 6))
    centres = draw(st.lists(st.lists(st.integers(-3, 3), min_size=dimension,
                                     max_size=dimension).filter(any), min_size=1, max_size=4))
    count = draw(st.integers(0, 40))
    items = []
    for n in range(count):
        centre = draw(st.sampled_from(centres))
        jitter = draw(st.lists(st.integers(-1, 1), min_size=dimension, max_size=dimension))
        vector = [c * 10.0 + j for c, j in zip(centre, jitter, strict=True)]
        if not any(vector):
            vector[0] = 1.0
        minute = draw(st.integers(0, 30))
        items.append(ClusterInput(UUID(int=n + 1), draw(st.text(max_size=30)), vector,
                                  START + timedelta(minutes=minute)))
    return items, draw(st.integers(2, 6))


@settings(max_examples=150, deadline=None)
@given(message_sets())
def test_every_message_is_in_exactly_one_cluster_or_unclustered(
        case: tuple[list[ClusterInput], int]) -> None:
    items, min_cluster_size = case

    result = cluster_messages(items, min_cluster_size=min_cluster_size)

    placed = [i for c in result.clusters for i in c.message_ids] + list(result.unclustered_ids)
    assert sorted(placed) == sorted(item.id for item in items)
    for cluster in result.clusters:
        assert cluster.size == len(cluster.message_ids) >= min_cluster_size
        assert set(cluster.representative_ids) <= set(cluster.message_ids)
        assert 1 <= len(cluster.representative_ids) <= 3
    sizes = [(c.size, c.last_at) for c in result.clusters]
    assert sizes == sorted(sizes, reverse=True)
