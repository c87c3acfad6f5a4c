"""How the assistant answers: retrieve the passages the asker may read (the same
permission-safe search as ``…/search``), put them in the organization's active prompt
template (or the built-in one), and

- with Mistral keyed: let the chat model write the answer, citing sources by id;
- without it (or when it fails): answer honestly with the most relevant passages,
  quoted with their citations and labelled as extracted.

Nothing here writes: the route records the question and answer as one command."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vistone.ai.embedders import ProviderError

if TYPE_CHECKING:  # the Mistral client loads only when a key is set
    from vistone.ai.mistral import ChatAnswer

TEMPLATE_CATEGORY = "assistant"
BUILT_IN_TEMPLATE_NAME = "built-in"
BUILT_IN_TEMPLATE = """You are the assistant of an agency's work platform. Answer the \
question using only the sources below, in the language of the question. Cite each source \
you use by its id in square brackets, exactly as given, like [3f2b…]. If the sources do \
not hold the answer, say so plainly.

Sources:
{context}

Question: {question}"""

PASSAGES = 6  # sources given to the model
QUOTED = 3  # passages quoted by an extracted answer: the best few, not a reading list
QUOTED_CHARS = 400
MAX_ANSWER_TOKENS = 600


class Chat(Protocol):
    def complete(self, messages: list[dict[str, str]], *, max_tokens: int) -> ChatAnswer: ...


@dataclass(frozen=True)
class Passage:
    source_id: str
    content_type: str
    title: str
    text: str
    link: str
    chunk_index: int
    score: float


@dataclass
class Draft:
    answer: str
    mode: str  # "generated" (a chat model wrote it) or "extracted" (passages quoted)
    model: str
    template: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    notice: str | None = None


def render(template: str, passages: Sequence[Passage], question: str) -> str:
    """The template with its ``{context}`` and ``{question}`` filled in (plain
    replacement: a template may hold other braces); either one missing is appended."""
    if "{context}" not in template:
        template += "\n\nSources:\n{context}"
    if "{question}" not in template:
        template += "\n\nQuestion: {question}"
    context = "\n\n".join(f"[{p.source_id}] {p.content_type} “{p.title}”:\n{p.text}"
                          for p in passages) or "(no source the asker may read matches)"
    return template.replace("{context}", context).replace("{question}", question)


def citations_of(answer: str, passages: Sequence[Passage], *,
                 all_cited: bool = False) -> list[dict[str, Any]]:
    """Every passage given, with whether the answer cites it by id (a model may cite
    only what it was given: an id it invents is not a citation)."""
    cited = set(re.findall(r"\[([0-9a-fA-F-]{36})\]", answer))
    return [{"source_id": p.source_id, "content_type": p.content_type, "title": p.title,
             "link": p.link, "chunk_index": p.chunk_index,
             "cited": all_cited or p.source_id in cited} for p in passages]


def extracted(question: str, passages: Sequence[Passage], template_name: str,
              notice: str | None = None) -> Draft:
    passages = passages[:QUOTED]
    if not passages:
        answer = ("Extracted answer: no passage that you may read matches this question.")
    else:
        quotes = []
        for p in passages:
            text = p.text if len(p.text) <= QUOTED_CHARS else p.text[:QUOTED_CHARS] + "…"
            quotes.append(f"[{p.source_id}] {p.content_type} “{p.title}”: “{text}”")
        answer = ("Extracted answer (no language model wrote this; these are the most "
                  "relevant passages you may read):\n\n" + "\n\n".join(quotes))
    return Draft(answer, "extracted", "none", template_name,
                 citations_of(answer, passages, all_cited=True), notice=notice)


def answer(question: str, passages: Sequence[Passage], chat: Chat | None, *,
           template: str, template_name: str, chat_model: str) -> Draft:
    if chat is None:
        return extracted(question, passages, template_name)
    if not passages:
        return extracted(question, passages, template_name,
                         notice="nothing you may read matches; no model was asked")
    prompt = render(template, passages, question)
    try:
        reply = chat.complete([
            {"role": "system", "content": "You answer from the sources you are given and "
             "cite them by id."},
            {"role": "user", "content": prompt}], max_tokens=MAX_ANSWER_TOKENS)
    except ProviderError as error:
        return extracted(question, passages, template_name,
                         notice=f"the language model could not answer ({error}); "
                         "these are the passages it would have been given")
    return Draft(reply.text, "generated", reply.model or chat_model, template_name,
                 citations_of(reply.text, passages), reply.prompt_tokens,
                 reply.completion_tokens)
