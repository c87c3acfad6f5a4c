"""Chats in clusters: messages grouped into topics by their embeddings, each topic named by
its words. Pure (no database, no I/O): the caller passes the messages, caches the answer and
refreshes it as messages arrive.

**Why HDBSCAN** (``sklearn.cluster.HDBSCAN``). A channel's number of topics is unknown and
changes, so k-means (which must be told k and puts every greeting into some topic) does not
fit. HDBSCAN finds clusters of any number and size from density alone and leaves the messages
that belong to no topic ("ok", "thanks", a lone question) as noise, which is the honest
answer for them. Embeddings are unit vectors, so Euclidean distance, sqrt(2 - 2 cos), is
monotone with cosine distance: the clusters are those of cosine similarity. The brute-force
algorithm (one n x n distance matrix) is used because space-partitioning trees do not prune
in 256 or 1024 dimensions: 5,000 messages take about a second instead of fifteen, at the
price of about 16 n² bytes of memory, which is why at most ``MAX_ITEMS`` are accepted (the
caller passes the newest window of a longer history).

**Sizes.** ``min_cluster_size`` is the smallest topic for a small channel; for a larger one
it grows to ``MIN_TOPIC_SHARE`` of the messages, or a channel of 5,000 messages answers with
hundreds of three-message fragments instead of its topics. ``min_samples`` (how dense a
message's neighbourhood must be for it not to be noise) stays at ``min_cluster_size``, so
the growth does not turn more messages into noise.

**When density finds nothing.** HDBSCAN cannot return a single cluster of everything, and
with fewer than ``2 * min_cluster_size`` messages it cannot return two, so it finds nothing
in a small set, and often nothing (or a few fragments, which stand) in a set about one
thing only. When it finds nothing, the whole set is one cluster when it
is cohesive — every message's mean cosine similarity to the others is at least ``cohesion``
(average linkage: a single outlier or a minority on another subject fails it) — and
otherwise all of it is unclustered. Fewer than ``min_cluster_size`` messages are always
unclustered. The default cohesion (0.25) is tuned on the default offline model (wordllama,
256 dimensions), on which short messages of one topic average 0.1 to 0.5 with each other
and unrelated ones about 0.05: it errs toward leaving a small set unclustered. Models
whose unrelated texts are already similar, such as mistral-embed, want a higher value.

**The label** is a cluster's top terms by class-based TF-IDF (c-TF-IDF, as in BERTopic):
each cluster's texts are one document, the unclustered messages another, and a term scores
its frequency in the cluster times log(1 + A / f), A being the mean number of words per
document and f the term's frequency everywhere; so a term frequent in the cluster and rare
elsewhere ranks first. Tokens are words of letters only, at least three long, lower case,
English stop words removed. Three to five terms are kept (past the third, only those
scoring at least half the best), joined by ", "; a cluster whose texts have no such words
has no terms and an empty label.

Determinism: the input is sorted by (created_at, id) first and every tie is broken by that
order, so the same messages in any order give the same answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import numpy as np
from sklearn.cluster import HDBSCAN
from sklearn.feature_extraction.text import CountVectorizer

MIN_TOPIC_SHARE = 0.005  # a topic of a large channel: at least 0.5 % of its messages
MAX_ITEMS = 10_000  # about 1.6 GB at the peak (16 n² bytes), the most one request may take
COHESION = 0.25  # mean cosine similarity to the others (module docstring)
MAX_TERMS = 5
MIN_TERMS = 3
TERM_SCORE_SHARE = 0.5  # past MIN_TERMS, a term must score this share of the best one
REPRESENTATIVES = 3
TOKEN_PATTERN = r"(?u)\b[^\W\d_]{3,}\b"  # letters only (any script), three or more


@dataclass(frozen=True)
class ClusterInput:
    id: UUID
    text: str
    embedding: Sequence[float]  # unit length expected; normalised again here anyway
    created_at: datetime


@dataclass(frozen=True)
class Cluster:
    label: str  # the terms joined by ", "; empty when the texts have no words
    terms: tuple[str, ...]
    size: int
    first_at: datetime
    last_at: datetime
    representative_ids: tuple[UUID, ...]  # closest to the centroid first, distinct texts
    message_ids: tuple[UUID, ...]  # newest first


@dataclass(frozen=True)
class ClusterResult:
    clusters: list[Cluster]  # largest first, then most recently active
    unclustered_ids: tuple[UUID, ...]  # newest first


def cluster_messages(items: Sequence[ClusterInput], *, min_cluster_size: int = 3,
                     cohesion: float = COHESION) -> ClusterResult:
    """Topic clusters of ``items`` (the module docstring says how). Raises ValueError on
    duplicate ids, embeddings that are empty, of different dimensions, not finite or of
    zero length, naive and aware datetimes mixed, or more than MAX_ITEMS items."""
    if min_cluster_size < 2:
        raise ValueError(f"min_cluster_size must be at least 2, got {min_cluster_size}")
    if len(items) > MAX_ITEMS:
        raise ValueError(f"at most {MAX_ITEMS} messages can be clustered at once, got "
                         f"{len(items)}: pass the newest {MAX_ITEMS}")
    ordered = _validated_in_order(items)
    if not ordered:
        return ClusterResult(clusters=[], unclustered_ids=())
    vectors = _unit_vectors(ordered)

    labels = _cluster_labels(vectors, min_cluster_size, cohesion)
    members = [np.flatnonzero(labels == label) for label in range(int(labels.max()) + 1)]
    noise = np.flatnonzero(labels == -1)
    terms = top_terms([[ordered[i].text for i in group] for group in members],
                       [ordered[i].text for i in noise])

    clusters = [_cluster(ordered, vectors, group, group_terms)
                for group, group_terms in zip(members, terms, strict=True)]
    # Ties keep the order of the clusters' oldest messages (stable sort, reverse included).
    clusters.sort(key=lambda cluster: (cluster.size, cluster.last_at), reverse=True)
    return ClusterResult(clusters=clusters,
                         unclustered_ids=tuple(ordered[i].id for i in reversed(noise)))


def _validated_in_order(items: Sequence[ClusterInput]) -> list[ClusterInput]:
    if not items:
        return []
    seen: set[UUID] = set()
    dimension = len(items[0].embedding)
    if dimension == 0:
        raise ValueError(f"message {items[0].id} has an empty embedding")
    for item in items:
        if item.id in seen:
            raise ValueError(f"message {item.id} is given twice")
        seen.add(item.id)
        if len(item.embedding) != dimension:
            raise ValueError(f"embeddings must share one dimension: message {item.id} has "
                             f"{len(item.embedding)}, message {items[0].id} has {dimension}")
    if len({item.created_at.utcoffset() is None for item in items}) > 1:
        raise ValueError("created_at must be all timezone-aware or all naive")
    return sorted(items, key=lambda item: (item.created_at, item.id))


def _unit_vectors(ordered: Sequence[ClusterInput]) -> np.ndarray:
    vectors = np.asarray([item.embedding for item in ordered], dtype=np.float64)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        bad = ordered[int(np.flatnonzero(~finite)[0])].id
        raise ValueError(f"message {bad} has a NaN or infinite value in its embedding")
    norms = np.linalg.norm(vectors, axis=1)
    if not (norms > 0).all():
        bad = ordered[int(np.flatnonzero(norms == 0)[0])].id
        raise ValueError(f"message {bad} has an all-zero embedding, which has no direction")
    # Unit length again, so that Euclidean distance stays monotone with cosine distance
    # even for vectors stored with rounding (or from a provider that does not normalise).
    vectors /= norms[:, None]
    return vectors


def _cluster_labels(vectors: np.ndarray, min_cluster_size: int, cohesion: float) -> np.ndarray:
    """One label per message, 0..k-1, or -1 for unclustered."""
    count = len(vectors)
    unclustered = np.full(count, -1, dtype=np.intp)
    if count < min_cluster_size:
        return unclustered
    labels = unclustered
    if count >= 2 * min_cluster_size:
        smallest = max(min_cluster_size, int(count * MIN_TOPIC_SHARE))
        labels = HDBSCAN(min_cluster_size=smallest, min_samples=min_cluster_size,
                         metric="euclidean", algorithm="brute", copy=True).fit_predict(vectors)
    if labels.max() < 0 and _is_cohesive(vectors, cohesion):
        return np.zeros(count, dtype=np.intp)
    return labels


def _is_cohesive(vectors: np.ndarray, cohesion: float) -> bool:
    """Whether each vector's mean cosine similarity to the others reaches ``cohesion``."""
    count = len(vectors)
    similarity_to_others = (vectors @ vectors.sum(axis=0) - 1.0) / (count - 1)
    return bool((similarity_to_others >= cohesion).all())


def top_terms(cluster_texts: list[list[str]], noise_texts: list[str]) -> list[tuple[str, ...]]:
    """Each cluster's top terms by c-TF-IDF against all the texts, unclustered included."""
    if not cluster_texts:
        return []
    documents = ["\n".join(texts) for texts in cluster_texts]
    if noise_texts:
        documents.append("\n".join(noise_texts))
    vectorizer = CountVectorizer(lowercase=True, stop_words="english",
                                 token_pattern=TOKEN_PATTERN)
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # no text has a single word: an empty vocabulary
        return [() for _ in cluster_texts]
    vocabulary = vectorizer.get_feature_names_out()
    words_per_document = counts.sum(axis=1)
    average_words = words_per_document.mean()
    idf = np.log1p(average_words / counts.sum(axis=0))
    result: list[tuple[str, ...]] = []
    for row, words in zip(counts[:len(cluster_texts)], words_per_document, strict=False):
        if words == 0:
            result.append(())
            continue
        scores = row / words * idf
        # By score, then alphabetically: vocabulary is sorted, and the sort is stable.
        ranked = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > 0]
        chosen = ranked[:MIN_TERMS] + [i for i in ranked[MIN_TERMS:MAX_TERMS]
                                      if scores[i] >= TERM_SCORE_SHARE * scores[ranked[0]]]
        result.append(tuple(str(vocabulary[i]) for i in chosen))
    return result


def _cluster(ordered: Sequence[ClusterInput], vectors: np.ndarray, group: np.ndarray,
             terms: tuple[str, ...]) -> Cluster:
    """``group``: the members' positions in ``ordered``, oldest first."""
    centroid = vectors[group].mean(axis=0)
    closeness = vectors[group] @ centroid  # cosine up to the centroid's length: same order
    representatives: list[UUID] = []
    seen_texts: set[str] = set()
    for position in np.argsort(-closeness, kind="stable"):
        item = ordered[int(group[position])]
        # Three copies of "thanks, done" would say less than three different messages.
        text = " ".join(item.text.casefold().split())
        if text in seen_texts:
            continue
        seen_texts.add(text)
        representatives.append(item.id)
        if len(representatives) == REPRESENTATIVES:
            break
    return Cluster(label=", ".join(terms), terms=terms, size=len(group),
                   first_at=ordered[int(group[0])].created_at,
                   last_at=ordered[int(group[-1])].created_at,
                   representative_ids=tuple(representatives),
                   message_ids=tuple(ordered[int(i)].id for i in reversed(group)))

