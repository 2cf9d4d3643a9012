"""ESCO as the generator uses it (:class:`EscoContext`): sorted URIs, the occupation×skill weight matrix and the
labels its texts are written from."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.esco import load_occupation_skills, load_taxonomy
from training.datasets.world_text import is_clean_title_label, skill_title_label, split_occupation_alt_labels


@dataclass
class EscoContext:
    """ESCO as the generator uses it: sorted URIs, the occupation×skill weight matrix, labels for texts."""

    skill_uris: np.ndarray
    skill_index: pd.Index
    skill_dtype: pd.CategoricalDtype  # categorical dtype over skill_uris (compact URI columns)
    skill_title: list[str]
    skill_title_clean: np.ndarray
    occ_uris: np.ndarray
    occ_index: pd.Index
    occ_label: list[str]
    occ_alt_labels: list[list[str]]
    occ_definition: list[str]
    occ_skills: sp.csr_matrix  # occupations × skills, derived weight in (0, 1]; rows sorted by skill index
    occ_skill_ranked: list[np.ndarray] = field(default_factory=list)  # skill indices by rank per occupation
    occ_skill_ranked_weight: list[np.ndarray] = field(default_factory=list)  # their weights

    def occupation(self, prefix: str) -> int:
        if ("occupation", prefix) in self._found:
            return self._found[("occupation", prefix)]
        matches = [i for i, text in enumerate(self._occ_text) if text.startswith(prefix.lower())]
        if not matches:
            raise RuntimeError(f"no ESCO occupation text starts with {prefix!r}")
        self._found[("occupation", prefix)] = matches[0]
        return matches[0]

    def skill(self, prefix: str) -> int:
        if ("skill", prefix) in self._found:
            return self._found[("skill", prefix)]
        matches = [i for i, text in enumerate(self._skill_text) if text.startswith(prefix.lower())]
        if not matches:
            raise RuntimeError(f"no ESCO skill text starts with {prefix!r}")
        self._found[("skill", prefix)] = matches[0]
        return matches[0]

    _occ_text: list[str] = field(default_factory=list)
    _skill_text: list[str] = field(default_factory=list)
    _found: dict = field(default_factory=dict)  # prefix lookups already made


@lru_cache(maxsize=1)
def load_esco_context() -> EscoContext:
    taxonomy = load_taxonomy()
    skills = taxonomy.skills.sort_index()
    occupations = taxonomy.occupations.sort_index()
    links = load_occupation_skills()
    skill_index = pd.Index(skills["uri"].to_numpy())
    occ_index_all = pd.Index(occupations["uri"].to_numpy())
    links = links[links["skill_uri"].isin(skill_index) & links["occupation_uri"].isin(occ_index_all)]
    occ_with_skills = np.sort(links["occupation_uri"].unique())
    occupations = occupations.loc[occ_with_skills]
    occ_index = pd.Index(occupations["uri"].to_numpy())
    rows = occ_index.get_indexer(links["occupation_uri"])
    cols = skill_index.get_indexer(links["skill_uri"])
    occ_skills = sp.csr_matrix(
        (links["weight"].to_numpy(dtype=float), (rows, cols)), shape=(len(occ_index), len(skill_index))
    )
    occ_skills.sum_duplicates()
    occ_skills.sort_indices()
    ranked_frame = pd.DataFrame({"o": rows, "s": cols, "r": links["rank"].to_numpy()}).sort_values(
        ["o", "r", "s"]
    )
    ranked_frame["w"] = links["weight"].to_numpy(dtype=float)[ranked_frame.index.to_numpy()]
    ranked = [np.zeros(0, dtype=np.int64)] * len(occ_index)
    ranked_weights = [np.zeros(0)] * len(occ_index)
    for o, group in ranked_frame.groupby("o", sort=True):
        ranked[int(o)] = group["s"].to_numpy(dtype=np.int64)
        ranked_weights[int(o)] = group["w"].to_numpy(dtype=float)
    heads = frozenset(
        str(label).split()[-1].lower() for label in taxonomy.occupations["label"] if str(label).split()
    )
    skill_titles = [
        skill_title_label(str(lab), str(alt))
        for lab, alt in zip(skills["label"], skills["alt_labels"], strict=True)
    ]
    context = EscoContext(
        skill_uris=skills["uri"].to_numpy().astype(str),
        skill_index=skill_index,
        skill_dtype=pd.CategoricalDtype(categories=skill_index),
        skill_title=skill_titles,
        skill_title_clean=np.array([is_clean_title_label(t) for t in skill_titles]),
        occ_uris=occupations["uri"].to_numpy().astype(str),
        occ_index=occ_index,
        occ_label=[str(x) for x in occupations["label"]],
        occ_alt_labels=[split_occupation_alt_labels(str(a), heads) for a in occupations["alt_labels"]],
        occ_definition=[str(x) for x in occupations["definition"]],
        occ_skills=occ_skills,
        occ_skill_ranked=ranked,
        occ_skill_ranked_weight=ranked_weights,
    )
    context._occ_text = [str(t).lower() for t in occupations["text"]]
    context._skill_text = [str(t).lower() for t in skills["text"]]
    return context
