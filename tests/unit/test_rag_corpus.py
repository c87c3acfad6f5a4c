"""bench/rag_corpus.py: the labelled retrieval set is well formed, so the retrieval figures
of bench/rag_quality.py measure the ranking and not a broken label."""

from __future__ import annotations

from collections import Counter

from bench import rag_corpus
from bench.rag_corpus import ANCHORS, DOCUMENTS, KINDS, QUESTIONS, STYLES
from vistone.ai.chunking import chunk_document


def test_sizes() -> None:
    assert len(DOCUMENTS) >= 300
    assert len(QUESTIONS) >= 60


def test_ids_are_unique() -> None:
    duplicates = [i for i, n in Counter(d.id for d in DOCUMENTS).items() if n > 1]
    assert duplicates == []
    assert len({q.id for q in QUESTIONS}) == len(QUESTIONS)
    assert len({q.text for q in QUESTIONS}) == len(QUESTIONS)


def test_documents_are_filled_in() -> None:
    for doc in DOCUMENTS:
        assert doc.kind in KINDS, doc.id
        assert doc.id.startswith(f"{doc.kind}-"), doc.id
        assert doc.title.strip() and doc.content.strip(), doc.id
        assert "{" not in doc.content and "{" not in doc.title, doc.id  # template left over


def test_every_kind_is_present_and_asked_about() -> None:
    assert set(Counter(d.kind for d in DOCUMENTS)) == set(KINDS)
    by_id = {d.id: d for d in DOCUMENTS}
    asked = {by_id[i].kind for q in QUESTIONS for i in q.relevant}
    assert asked == set(KINDS)


def test_relevant_documents_exist_and_are_hand_written() -> None:
    anchors = {d.id for d in ANCHORS}
    for question in QUESTIONS:
        assert 1 <= len(question.relevant) <= 3, question.text
        assert len(set(question.relevant)) == len(question.relevant), question.text
        # Only the hand-written documents were checked as answers; a filler never is one.
        assert set(question.relevant) <= anchors, question.text


def test_both_styles_with_mostly_paraphrases() -> None:
    styles = Counter(q.style for q in QUESTIONS)
    assert set(styles) == set(STYLES)
    assert 0.25 <= styles["lexical"] / len(QUESTIONS) <= 0.45


def test_every_answer_has_neighbours() -> None:
    """Each relevant document's agency holds several documents of its kind, so a ranking
    has to choose among neighbours."""
    for question in QUESTIONS:
        for doc_id in question.relevant:
            kind, agency = doc_id.split("-")[:2]
            neighbours = [d for d in DOCUMENTS if d.id.startswith(f"{kind}-{agency}-")]
            assert len(neighbours) >= 3, doc_id


def test_some_answers_span_several_chunks() -> None:
    by_id = {d.id: d for d in DOCUMENTS}
    long_answers = {i for q in QUESTIONS for i in q.relevant
                    if len(chunk_document(by_id[i].title, by_id[i].content)) > 1}
    assert len(long_answers) >= 3


def test_generation_is_deterministic() -> None:
    fillers = DOCUMENTS[len(ANCHORS):]
    assert tuple(rag_corpus._fillers()) == fillers
    assert rag_corpus._number_words(18400) == "eighteen thousand four hundred"
    assert rag_corpus._number_words(62_000) == "sixty-two thousand"
    assert rag_corpus._number_words(3_250) == "three thousand two hundred fifty"
