"""Splitting a document's text into overlapping chunks, each embedded with its title as
context (so a passage deep in a long task description still says which task it is).

Pure and deterministic: the same text gives the same chunks, so an edit changes only
the chunks whose text changed and only those are embedded again."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# About 180 words: small enough for a passage to be about one thing, large enough to hold
# a task's description or a message; the overlap keeps a sentence cut at a boundary whole
# in one of the two chunks.
CHUNK_CHARS = 1000
OVERLAP_CHARS = 200

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_SPACES = re.compile(r"[ \t\r\f\v]+")


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str  # the passage, as shown in a snippet
    embedded: str  # what is embedded and searched: title context + passage
    text_hash: str  # of ``embedded``: equal hashes need no new embedding


def normalize(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def split(text: str, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS) -> list[str]:
    """``text`` in passages of at most ``size`` characters that overlap by about
    ``overlap``; cuts fall after a sentence or a line where possible, else at a space."""
    if not 0 <= overlap < size:
        raise ValueError("overlap must be smaller than the chunk size")
    text = normalize(text)
    if len(text) <= size:
        return [text] if text else []
    passages: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            end = _cut(text, start, end)
        passages.append(text[start:end].strip())
        if end >= len(text):
            break
        # The next passage starts about ``overlap`` back: at a sentence start if one is
        # there, else at a word.
        back = max(end - overlap, start + 1)
        sentence = _SENTENCE_END.search(text, back, end)
        space = text.find(" ", back, end)
        start = sentence.end() if sentence else space + 1 if space != -1 else back
    return [p for p in passages if p]


def _cut(text: str, start: int, end: int) -> int:
    """The best place to end a passage within ``text[start:end]``: the last sentence or
    line end in its second half, else its last space, else ``end``."""
    half = start + (end - start) // 2
    best = None
    for match in _SENTENCE_END.finditer(text, half, end):
        best = match.start()
    if best is not None and best > start:
        return best
    space = text.rfind(" ", half, end)
    return space if space > start else end


def chunk_document(title: str, content: str, size: int = CHUNK_CHARS,
                   overlap: int = OVERLAP_CHARS) -> list[Chunk]:
    """The chunks of a document; a document with a title and no body is one chunk, one
    with neither has none."""
    title = normalize(title).replace("\n", " ")
    passages = split(content, size, overlap) or ([title] if title else [])
    chunks = []
    for index, passage in enumerate(passages):
        embedded = passage if passage == title else f"{title}\n{passage}" if title else passage
        chunks.append(Chunk(index, passage, embedded, text_hash(embedded)))
    return chunks


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
