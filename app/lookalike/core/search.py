"""Queries: words, photos and minus terms, each with a weight, as one vector.

Each term is embedded on its own and scaled by its weight (minus terms count
against), the sum is normalised, and the vector index returns the photos
nearest to it.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from lookalike.core.catalogue import Catalogue
from lookalike.core.clip import ClipModel, Vectors, normalise
from lookalike.core.imaging import PhotoError, content_hash, decode, read_photo_file
from lookalike.core.vectors import VectorIndex

WEIGHT_PREFIX = re.compile(r"^(?P<weight>\d+(?:\.\d+)?|\.\d+):(?P<rest>.+)$", re.DOTALL)


class TermKind(Enum):
    TEXT = "text"
    IMAGE = "image"
    PHOTO = "photo"  # a photo already in the library, by id


@dataclass(frozen=True)
class Term:
    kind: TermKind
    value: str
    weight: float = 1.0

    @property
    def negative(self) -> bool:
        return self.weight < 0


@dataclass
class Query:
    terms: list[Term] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(t.weight != 0 and t.value.strip() for t in self.terms)

    def key(self) -> tuple[tuple[str, str, float], ...]:
        return tuple((t.kind.value, t.value, t.weight) for t in self.terms)


@dataclass(frozen=True)
class Result:
    photo_id: int
    path: str
    score: float
    # False when the file cannot be reached now, as on a drive that is unplugged.
    available: bool = True


Encoded = dict[tuple[str, str], Vectors]
Found = list[tuple[int, str, float]]
QueryKey = tuple[tuple[str, str, float], ...]

# Answers kept per Searcher, for a query typed again or back-spaced to; a
# Searcher is made anew whenever the index changes, which empties it.
ANSWER_CACHE_SIZE = 64


def _key(term: Term) -> tuple[str, str]:
    return term.kind.value, term.value


class QueryError(Exception):
    """A query that cannot be run, with the reason in plain words."""


def weighted(term: str, is_path: bool = False) -> tuple[float, str]:
    """Split an optional `WEIGHT:` prefix off a term, as in `2:dog` or `0.5:cat.jpg`.

    A path keeps its prefix when a file of that exact name exists.
    """
    match = WEIGHT_PREFIX.match(term)
    if match is None or (is_path and Path(term).exists()):
        return 1.0, term
    return float(match["weight"]), match["rest"]


def build_query(text: str | None, images: list[str], minus: list[str]) -> Query:
    """A query from command-line style parts, each of which may carry a weight."""
    terms = []
    if text and text.strip():
        weight, value = weighted(text.strip())
        terms.append(Term(TermKind.TEXT, value, weight))
    for image in images:
        weight, value = weighted(image, is_path=True)
        terms.append(Term(TermKind.IMAGE, value, weight))
    for item in minus:
        weight, value = weighted(item.strip(), is_path=True)
        kind = TermKind.IMAGE if Path(value).is_file() else TermKind.TEXT
        terms.append(Term(kind, value, -weight))
    return Query(terms)


class Searcher:
    def __init__(
        self, catalogue: Catalogue, model: ClipModel, model_id: int, vectors: VectorIndex
    ) -> None:
        self.catalogue = catalogue
        self.model = model
        self.model_id = model_id
        self.vectors = vectors
        self._answers: OrderedDict[QueryKey, tuple[int, Found]] = OrderedDict()
        self._answers_lock = threading.Lock()

    def encode_terms(self, query: Query, catalogue: Catalogue | None = None) -> Encoded:
        """The embeddings of the query's words and outside photos: the slow part
        of a search, so that a window can run it on another thread than the one
        that owns the catalogue. A photo whose content the library already holds
        is looked up instead of decoded and encoded when that thread passes a
        `catalogue` connection of its own."""
        encoded: Encoded = {}
        texts = [t for t in query.terms if t.kind is TermKind.TEXT and t.weight]
        if texts:
            vectors = self.model.encode_text([t.value for t in texts])
            encoded.update((_key(t), vectors[i]) for i, t in enumerate(texts))
        for term in query.terms:
            if term.kind is TermKind.IMAGE and term.weight:
                encoded[_key(term)] = self._image_vector(term.value, catalogue)
        return encoded

    def query_vector(
        self, query: Query, encoded: Encoded | None = None, catalogue: Catalogue | None = None
    ) -> Vectors:
        if not query:
            raise QueryError("the query is empty: type some words or add a photo")
        encoded = dict(encoded or {})
        texts = [t for t in query.terms if t.kind is TermKind.TEXT and t.weight]
        missing = [t for t in texts if _key(t) not in encoded]
        if missing:
            vectors = self.model.encode_text([t.value for t in missing])
            encoded.update((_key(t), vectors[i]) for i, t in enumerate(missing))
        total = np.zeros(self.vectors.ndim, dtype=np.float32)
        for term in query.terms:
            if not term.weight:
                continue
            vector = encoded.get(_key(term))
            if vector is None:
                vector = self._photo_vector(term, catalogue or self.catalogue)
            total += term.weight * vector
        combined = normalise(total)
        if not np.any(combined):
            raise QueryError("the terms of this query cancel each other out")
        return combined

    def _photo_vector(self, term: Term, catalogue: Catalogue) -> Vectors:
        if term.kind is TermKind.PHOTO:
            stored = catalogue.embedding(self.model_id, int(term.value))
            if stored is None:
                raise QueryError("that photo has not been indexed yet")
            return normalise(stored)
        return self._image_vector(term.value, catalogue)

    def _image_vector(self, path: str, catalogue: Catalogue | None) -> Vectors:
        """A photo's embedding; taken from the `catalogue` when it holds one of
        the same content (a hash instead of a decode and an encode)."""
        try:
            data = read_photo_file(path)
            if catalogue is not None:
                stored = catalogue.embedding_of_content(self.model_id, content_hash(data))
                if stored is not None:
                    return normalise(stored)
            decoded = decode(data, self.model.input_spec, thumbnail_size=None, digest=b"")
        except PhotoError as error:
            raise QueryError(f"cannot use {path} as a query: {error}") from None
        vector: Vectors = self.model.encode_images([decoded.pixels])[0]
        return vector

    def search(
        self,
        query: Query,
        limit: int = 20,
        encoded: Encoded | None = None,
        catalogue: Catalogue | None = None,
    ) -> list[Result]:
        """The photos that best match the query, best first; `encoded` holds
        term embeddings already made by `encode_terms`. The answer is kept, so
        the same query again, or one asking for fewer, is served from memory;
        whether each file can be reached is looked at every time.

        On another thread than the Searcher's own, pass that thread's
        `catalogue` connection: the vector index may be searched from several
        threads at once, a catalogue connection only from its own."""
        found = self._remembered(query, limit)
        if found is None:
            vector = self.query_vector(query, encoded, catalogue)
            keys, scores = self.vectors.search(vector, limit)
            paths = (catalogue or self.catalogue).photo_paths([int(k) for k in keys])
            found = [
                (int(key), paths[int(key)], float(score))
                for key, score in zip(keys, scores, strict=True)
                if int(key) in paths
            ]
            self._remember(query, limit, found)
        reachable = _FolderCheck()
        return [Result(photo_id, path, score, reachable(path)) for photo_id, path, score in found]

    def _remembered(self, query: Query, limit: int) -> Found | None:
        with self._answers_lock:
            kept = self._answers.get(query.key())
            if kept is None or kept[0] < limit:
                return None
            self._answers.move_to_end(query.key())
        # A wider search ranks its first few at least as well as a narrow one.
        return kept[1][:limit]

    def _remember(self, query: Query, limit: int, found: Found) -> None:
        # A photo from disk may change under the same path: only answers to
        # words and library photos are kept.
        if any(t.kind is TermKind.IMAGE for t in query.terms):
            return
        with self._answers_lock:
            self._answers[query.key()] = (limit, found)
            self._answers.move_to_end(query.key())
            while len(self._answers) > ANSWER_CACHE_SIZE:
                self._answers.popitem(last=False)


class _FolderCheck:
    """Whether a photo can be reached now, judged by its folder: one look per
    folder rather than per photo, since what goes away is a whole drive."""

    def __init__(self) -> None:
        self._seen: dict[str, bool] = {}

    def __call__(self, path: str) -> bool:
        folder = os.path.dirname(path)
        if folder not in self._seen:
            self._seen[folder] = os.path.isdir(folder)
        return self._seen[folder]
