"""Chunking (overlap, boundaries, title context, stable hashes) and reciprocal rank
fusion, pure; and the search index's vocabulary agrees with its formatters."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.assistant import ContentType
from projections.search_index import _ROLE_TYPES
from projections.search_sources import CONTENT_TYPES
from vistone.ai.chunking import CHUNK_CHARS, chunk_document, normalize, split
from vistone.ai.fusion import reciprocal_rank_fusion

SENTENCES = [f"Sentence {i} is about the launch of the coffee shop website." for i in range(80)]


def test_a_short_document_is_one_chunk_with_its_title_as_context() -> None:
    [chunk] = chunk_document("Renew the TLS certificate", "It expires next month.")
    assert chunk.index == 0 and chunk.text == "It expires next month."
    assert chunk.embedded == "Renew the TLS certificate\nIt expires next month."


def test_a_title_alone_is_one_chunk_and_nothing_is_no_chunk() -> None:
    assert [c.embedded for c in chunk_document("Only a title", "  \n ")] == ["Only a title"]
    assert chunk_document("", "") == [] and chunk_document(" ", "\n") == []


def test_long_text_is_cut_after_sentences_with_overlap() -> None:
    chunks = chunk_document("Launch", " ".join(SENTENCES))
    assert len(chunks) > 2
    for chunk in chunks:
        assert len(chunk.text) <= CHUNK_CHARS
        assert chunk.text.startswith("Sentence") and chunk.text.endswith(".")
        assert chunk.embedded.startswith("Launch\n")
    for before, after in zip(chunks, chunks[1:], strict=False):
        # The next chunk starts with a sentence the previous one ended with.
        assert after.text.split(". ")[0] + "." in before.text


def test_an_edit_changes_only_the_chunks_it_touches() -> None:
    text = " ".join(SENTENCES)
    edited = text.replace("Sentence 79 is about", "Sentence 79 now talks about")
    before = [c.text_hash for c in chunk_document("Launch", text)]
    after = [c.text_hash for c in chunk_document("Launch", edited)]
    assert before[:-1] == after[:-1] and before[-1] != after[-1]
    # A new title is new context for every chunk.
    assert set(before).isdisjoint(c.text_hash for c in chunk_document("Relaunch", text))


def test_text_without_spaces_is_cut_hard() -> None:
    parts = split("x" * 2500)
    assert [len(p) for p in parts] == [1000, 1000, 900]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=5000), st.integers(min_value=50, max_value=1500))
def test_chunks_cover_the_text_within_the_size(text: str, size: int) -> None:
    overlap = size // 5
    parts = split(text, size, overlap)
    assert all(0 < len(p) <= size for p in parts)
    words = normalize(text).split()
    covered = " ".join(parts).split()
    # Every word of the text is in some chunk (cuts fall at spaces, or inside a word
    # longer than a chunk).
    assert all(w in covered or len(w) > size // 2 or any(w in p for p in parts)
               for w in words)
    assert split(text, size, overlap) == parts  # deterministic


def test_fusion_rewards_agreement_and_counts_a_key_once_per_ranking() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "b", "d"]])
    keys = [k for k, _ in fused]
    assert keys[0] == "b" or keys[0] == "c"  # found by both beat found by one
    assert set(keys[:2]) == {"b", "c"} and set(keys[2:]) == {"a", "d"}
    assert dict(fused)["a"] == 1 / 61 and dict(fused)["b"] == 1 / 62 + 1 / 62
    assert reciprocal_rank_fusion([["a", "a", "b"]]) == [("a", 1 / 61), ("b", 1 / 63)]
    assert reciprocal_rank_fusion([]) == [] and reciprocal_rank_fusion([[], []]) == []


@given(st.lists(st.lists(st.integers(0, 30), max_size=20, unique=True), max_size=4))
def test_fusion_is_a_deterministic_ranking_of_every_key(rankings: list[list[int]]) -> None:
    fused = reciprocal_rank_fusion(rankings)
    assert {k for k, _ in fused} == {k for r in rankings for k in r}
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)
    assert reciprocal_rank_fusion(rankings) == fused
    assert [k for k, _ in reciprocal_rank_fusion(rankings, limit=3)] == [k for k, _ in fused][:3]


def test_every_content_type_has_a_formatter_and_every_role_a_list() -> None:
    assert set(CONTENT_TYPES) == {t.value for t in ContentType}
    assert all(set(types) <= set(ContentType) for types in _ROLE_TYPES.values())
