"""Reciprocal rank fusion: one ranking from several (vector and full text), by summing
1 / (k + rank) over the rankings a result appears in (Cormack et al., 2009; the fusion
of pgvector-python's hybrid search example). Ranks only: the two scores are on scales
that cannot be compared, and a result found by both rises above one found by either."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = 60  # the constant of the paper: damps the weight of the very first ranks

Key = TypeVar("Key", bound=Hashable)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Key]], k: int = K,
                           limit: int | None = None) -> list[tuple[Key, float]]:
    """Keys by fused score, best first; ties keep the order of first appearance (the
    first ranking's order first), so the answer is deterministic."""
    scores: dict[Key, float] = {}
    for ranking in rankings:
        seen: set[Key] = set()
        for rank, key in enumerate(ranking, start=1):
            if key in seen:  # a ranking counts a key once, at its best rank
                continue
            seen.add(key)
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    fused = sorted(scores.items(), key=lambda item: -item[1])  # stable: ties keep order
    return fused[:limit] if limit is not None else fused
