"""Catalogue search: the query's embedding against the index, plus a BM25 score where words matter.

score = cosine(query, training) + lexical_weight × min(1, BM25(query, training) / BM25 reference of the query)

where the reference is the BM25 of an average-length training holding each query term once.

Candidates are the union of the ``search_candidates`` nearest trainings by embedding and the
``search_candidates`` best by BM25, both restricted to what the filter allows; each candidate gets both
scores. The embedding carries meaning (a query on "bookkeeping" finds accounting trainings without the word);
BM25 carries exact tokens the small encoder blurs (certification codes, acronyms, trade words), and French
words whatever their accents, gender or inflection (``recommender/lexical.py``), where the English encoder reads
French poorly. The weight is a
setting (``search_lexical_weight``, 0 turns the hybrid off); it stays small so a shared word alone ("stone" in
"stone cutter" and "hot stone massage") cannot outrank meaning.

The search is neutral: it sees the query and objective criteria (region, modality, price, level), never who
asks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from parcours.settings import Settings, get_settings
from recommender.index import CatalogueIndex, SearchFilter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchHit:
    training_id: str
    score: float
    semantic: float
    lexical: float


class QueryEncoder:
    """Encodes one query with the fp32 model of the index (ONNX by default).

    The encoder is resolved once here: looking it up per query (``encode_query``) fingerprints the model folder
    on every call, 0.4 ms of file system work per search for nothing, as a running server's model never
    changes under it.
    """

    def __init__(self, settings: Settings) -> None:
        from features.encoder import model_id, query_encoder

        self.settings = settings
        self.model_id = model_id(settings)
        self._encode = query_encoder(settings)
        self.dimension = int(self.encode("warm-up").shape[0])

    def encode(self, text: str) -> np.ndarray:
        return self._encode(text)


class CatalogueSearch:
    """Hybrid semantic + lexical search over a ``CatalogueIndex``."""

    def __init__(
        self,
        index: CatalogueIndex,
        encoder: QueryEncoder,
        *,
        lexical_weight: float = 0.3,
        candidates: int = 100,
    ) -> None:
        self.index = index
        self.encoder = encoder
        self.lexical_weight = lexical_weight
        self.candidates = candidates

    @classmethod
    def load(cls, settings: Settings | None = None) -> CatalogueSearch:
        """Load the encoder and the index of ``settings``; ``IndexMismatch`` if they do not belong together,
        ``FileNotFoundError`` if no index was built. Sets FAISS to one thread (single queries are slower with
        its default threading on few cores)."""
        import faiss  # type: ignore[import-untyped]

        from features.encoder import model_id
        from recommender.index import IndexMetadata, check_compatible

        settings = settings or get_settings()
        folder = settings.resolved_index_dir()
        if not (folder / "meta.json").exists():
            raise FileNotFoundError(f"no catalogue index in {folder}: run `parcours index build`")
        # Refuse a foreign index before paying for the encoder.
        check_compatible(
            IndexMetadata.read(folder), model_id=model_id(settings), dimension=None, where=folder
        )
        faiss.omp_set_num_threads(1)
        encoder = QueryEncoder(settings)
        index = CatalogueIndex.load(folder, model_id=encoder.model_id, dimension=encoder.dimension)
        index.lexical.prepare()  # now rather than in the first request
        return cls(
            index,
            encoder,
            lexical_weight=settings.search_lexical_weight,
            candidates=settings.search_candidates,
        )

    @property
    def model_id(self) -> str:
        return self.index.meta.model_id

    def search(self, query: str, k: int = 10, search_filter: SearchFilter | None = None) -> list[SearchHit]:
        """The ``k`` best allowed trainings for ``query``, best first (ties broken by training id)."""
        query = " ".join(query.split())
        if not query or k <= 0:
            return []
        began = time.perf_counter()
        mask = self.index.allowed_mask(search_filter)
        if not mask.any():
            return []
        vector = self.encoder.encode(query)
        n = max(self.candidates, k)
        rows, cosines = self.index.search_rows(vector, n, mask)
        lexical_scores = np.zeros(0, dtype=np.float32)
        ceiling = 0.0
        if self.lexical_weight > 0:
            lexical_scores, ceiling = self.index.lexical.scores(query)
        if ceiling > 0:
            matching = np.flatnonzero(lexical_scores)
            matching = matching[mask[matching]]
            if len(matching) > n:
                matching = matching[np.argpartition(-lexical_scores[matching], n - 1)[:n]]
            extra = matching[~np.isin(matching, rows)]
            if len(extra):
                vectors = self.index.index.reconstruct_batch(extra.astype(np.int64))
                rows = np.concatenate([rows, extra])
                cosines = np.concatenate([cosines, vectors @ vector])
        semantic = cosines.astype(np.float64)
        if ceiling > 0:
            lexical = np.minimum(1.0, lexical_scores[rows] / ceiling).astype(np.float64)
        else:
            lexical = np.zeros(len(rows))
        scores = semantic + self.lexical_weight * lexical
        # Only the best k (and whatever ties the k-th score) become hits, sorted by (score desc, training id).
        if len(scores) > k:
            kth = np.partition(-scores, k - 1)[k - 1]
            keep = np.flatnonzero(-scores <= kth)
        else:
            keep = np.arange(len(scores))
        hits = [
            SearchHit(
                str(self.index.rows.training_id[rows[i]]),
                float(scores[i]),
                float(semantic[i]),
                float(lexical[i]),
            )
            for i in keep.tolist()
        ]
        hits.sort(key=lambda h: (-h.score, h.training_id))
        log.debug(
            "search %r: %d candidates in %.1f ms", query, len(scores), 1000 * (time.perf_counter() - began)
        )
        return hits[:k]
