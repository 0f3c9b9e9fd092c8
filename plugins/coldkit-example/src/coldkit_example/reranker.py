"""A reranker template: new items first, a business rule a shop applies to every served list.

``coldkit serve PATH --reranker new-first`` re-ranks every answer with it, from the fused pool
(``max(3k, k + 50)`` candidates). It declares the ``exclude`` capability and honours it; a request
asking for a constraint it does not declare (``max_per_category``, ``min_new_share``) is refused by
the server, naming it. ``coldkit.testing.check_reranker("new-first")`` checks the contract.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

import coldkit
from coldkit.rerank import per_row_constraints
from coldkit.validation import check_k


class NewItemsFirst:
    """Up to ``slots`` new (cold) items first, each group in the fused order, then the rest.

    Args:
        slots: at most this many new items are moved up (None: every new item of the list).
    """

    name = "new-first"
    capabilities = frozenset({"exclude"})

    def __init__(self, slots: int | None = None) -> None:
        self.slots = None if slots is None else check_k(slots, "slots")

    def rerank(
        self,
        ranked: coldkit.Ranked,
        k: int,
        constraints: coldkit.Constraints | Sequence[coldkit.Constraints] | None = None,
        items: coldkit.ItemAttributes | None = None,
    ) -> coldkit.Reranked:
        k = check_k(k)
        if items is None or items.is_new is None:
            raise coldkit.InvalidInputError("the new-first reranker needs ItemAttributes.is_new")
        batch = ranked.indices.shape[0]
        rows = per_row_constraints(constraints, batch)
        out_i = np.full((batch, k), -1, dtype=np.int64)
        out_s = np.full((batch, k), -np.inf, dtype=np.float32)
        for r in range(batch):
            excluded = set(int(i) for i in rows[r].exclude)
            listed = [j for j in range(ranked.indices.shape[1])
                      if ranked.indices[r, j] >= 0 and np.isfinite(ranked.scores[r, j]) and int(ranked.indices[r, j]) not in excluded]
            new = [j for j in listed if items.is_new[ranked.indices[r, j]]][: self.slots]
            chosen = (new + [j for j in listed if j not in set(new)])[:k]
            out_i[r, : len(chosen)] = ranked.indices[r, chosen]
            out_s[r, : len(chosen)] = ranked.scores[r, chosen]
        return coldkit.Reranked(coldkit.Ranked(out_i, out_s), [[] for _ in range(batch)])
