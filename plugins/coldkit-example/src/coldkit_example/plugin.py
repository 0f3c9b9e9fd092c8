"""The plugin module named by the entry point: the hook implementations (and the fusion strategy itself).

The encoder and the model live in their own modules and are imported only when built, so that
``coldkit plugins`` stays cheap.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

import coldkit
from coldkit.plugins.types import WeightLike
from coldkit.validation import check_k


class CombMNZFusion:
    """CombMNZ: ``(number of sources listing the item) * sum of its min-max normalised scores``.

    Rewards items that several sources agree on. Per-query weights scale each source's scores.
    """

    name = "combmnz"

    def fuse(
        self, sources: Mapping[str, coldkit.Ranked], k: int, weights: Mapping[str, WeightLike] | None = None
    ) -> coldkit.Ranked:
        k = check_k(k)  # coldkit's one k check: an integer >= 1
        if not sources:  # next(iter(...)) below would raise a bare StopIteration
            raise coldkit.InvalidInputError("combmnz fusion needs at least one source")
        batch = next(iter(sources.values())).indices.shape[0]
        # Reuse coldkit's weighted fusion for the score sum and count the votes separately:
        # the plugin uses only coldkit's public API.
        weighted = coldkit.get_fusion("weighted", normalization="minmax")
        summed = weighted.fuse(sources, k=max(k, sum(r.indices.shape[1] for r in sources.values())), weights=weights)
        votes = np.zeros(summed.indices.shape, dtype=np.float32)
        for name, ranked in sources.items():
            weight = np.broadcast_to(np.asarray(1.0 if weights is None else weights.get(name, 1.0)), (batch,))
            for row in range(batch):
                if weight[row] <= 0:
                    continue  # a source the caller switched off casts no vote
                listed = ranked.indices[row][ranked.indices[row] >= 0]
                votes[row] += np.isin(summed.indices[row], listed)
        valid = summed.indices >= 0
        scores = np.full(summed.scores.shape, -np.inf, dtype=np.float32)
        scores[valid] = summed.scores[valid] * votes[valid]
        order = np.lexsort((np.where(summed.indices >= 0, summed.indices, np.iinfo(np.int64).max), -scores), axis=1)
        order = order[:, :k]
        return coldkit.Ranked(
            np.take_along_axis(summed.indices, order, axis=1), np.take_along_axis(scores, order, axis=1)
        )


@coldkit.hookimpl
def coldkit_fusion_strategies() -> list[coldkit.FusionSpec]:
    return [
        coldkit.FusionSpec(
            name="combmnz",
            description="CombMNZ: vote count times summed min-max scores (example plugin)",
            factory=CombMNZFusion,
            capabilities={"scores"},
        )
    ]


# Lazy factories: the modules are imported when a component is built, not when coldkit loads the plugin,
# and coldkit still reads the class's options (--encoder reaches text-match, --help lists its defaults).
_char_ngram = coldkit.plugins.lazy_factory("coldkit_example.encoder:CharNgramEncoder")
_text_match = coldkit.plugins.lazy_factory("coldkit_example.model:TextMatch")
_new_first = coldkit.plugins.lazy_factory("coldkit_example.reranker:NewItemsFirst")


@coldkit.hookimpl
def coldkit_rerankers() -> list[coldkit.RerankerSpec]:
    return [
        coldkit.RerankerSpec(
            name="new-first",
            description="new items first, then the rest, each in the fused order (example plugin)",
            factory=_new_first,
            capabilities={"exclude"},
        )
    ]


@coldkit.hookimpl
def coldkit_encoders() -> list[coldkit.EncoderSpec]:
    return [
        coldkit.EncoderSpec(
            name="char-ngram",
            description="hashed character n-grams, dependency-free (example plugin)",
            factory=_char_ngram,
            capabilities={"text"},
        )
    ]


@coldkit.hookimpl
def coldkit_models() -> list[coldkit.ModelSpec]:
    return [
        coldkit.ModelSpec(
            name="text-match",
            description="item text vs what the user liked or wrote, any encoder (example plugin)",
            factory=_text_match,
            capabilities={"cold-items", "cold-users", "text"},
        )
    ]
