"""Queries: words, photos and minus terms, each with a weight, as one vector.

Each term is embedded on its own and scaled by its weight (minus terms count
against), the sum is normalised, and the vector index returns the photos
nearest to it.
"""

from __future__ import annotations

import os
import re
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

    def query_vector(self, query: Query) -> Vectors:
        if not query:
            raise QueryError("the query is empty: type some words or add a photo")
        texts = [t for t in query.terms if t.kind is TermKind.TEXT and t.weight]
        text_vectors = self.model.encode_text([t.value for t in texts]) if texts else None
        total = np.zeros(self.vectors.ndim, dtype=np.float32)
        for i, term in enumerate(texts):
            assert text_vectors is not None
            total += term.weight * text_vectors[i]
        for term in query.terms:
            if term.kind is not TermKind.TEXT and term.weight:
                total += term.weight * self._photo_vector(term)
        combined = normalise(total)
        if not np.any(combined):
            raise QueryError("the terms of this query cancel each other out")
        return combined

    def _photo_vector(self, term: Term) -> Vectors:
        if term.kind is TermKind.PHOTO:
            stored = self.catalogue.embedding(self.model_id, int(term.value))
            if stored is None:
                raise QueryError("that photo has not been indexed yet")
            return normalise(stored)
        try:
            data = read_photo_file(term.value)
            stored = self.catalogue.embedding_of_content(self.model_id, content_hash(data))
            if stored is not None:
                return normalise(stored)
            decoded = decode(data, self.model.input_spec, thumbnail_size=None)
        except PhotoError as error:
            raise QueryError(f"cannot use {term.value} as a query: {error}") from None
        vector: Vectors = self.model.encode_images([decoded.pixels])[0]
        return vector

    def search(self, query: Query, limit: int = 20) -> list[Result]:
        """The photos that best match the query, best first."""
        keys, scores = self.vectors.search(self.query_vector(query), limit)
        paths = self.catalogue.photo_paths([int(k) for k in keys])
        reachable = _FolderCheck()
        return [
            Result(int(key), paths[int(key)], float(score), reachable(paths[int(key)]))
            for key, score in zip(keys, scores, strict=True)
            if int(key) in paths
        ]


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
