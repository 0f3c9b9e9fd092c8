"""Built-in recommenders, registered through the same ``coldkit_models`` hook as third-party ones.

Each factory imports its module on first use, so listing models (``coldkit plugins``) never imports
scipy, pandas or torch.
"""

from __future__ import annotations

from coldkit.plugins.hookspecs import hookimpl
from coldkit.plugins.types import ModelSpec, lazy_factory

__all__ = ["BUILTIN_MODELS"]

# name -> ("module:Class", one-line description, capabilities)
BUILTIN_MODELS: dict[str, tuple[str, str, frozenset[str]]] = {
    "popularity": ("coldkit.models.popularity:Popularity", "most-interacted items first", frozenset()),
    "popularity-recent": (
        "coldkit.models.popularity:RecentPopularity", "popularity with exponentially decayed interactions", frozenset()
    ),
    "popularity-genre": (
        "coldkit.models.popularity:GenrePopularity", "popularity within the user's genres", frozenset({"cold-users"})
    ),
    "random": ("coldkit.models.popularity:RandomRecommender", "uniformly random, seeded", frozenset({"cold-items"})),
    "item-knn": (
        "coldkit.models.neighbors:ItemKNN", "item-based kNN CF (cosine/Pearson, shrinkage)", frozenset({"cold-users"})
    ),
    "user-knn": (
        "coldkit.models.neighbors:UserKNN", "user-based kNN CF (cosine/Pearson, shrinkage)", frozenset({"cold-users"})
    ),
    "ease": ("coldkit.models.neighbors:EASE", "EASE closed-form item-item linear model", frozenset({"cold-users"})),
    "content": (
        "coldkit.models.content:ContentRecommender",
        "content matching with any encoder, centred/whitened",
        frozenset({"cold-items", "cold-users", "text"}),
    ),
    "cold-ridge": (
        "coldkit.models.cold:ColdRidge",
        "closed-form ridge map content -> CF item vectors for new items",
        frozenset({"cold-items", "cold-users", "text"}),
    ),
    "cold-knn": (
        "coldkit.models.cold:ColdKNN",
        "content kNN map: a new item borrows the CF vectors of similar warm items",
        frozenset({"cold-items", "cold-users", "text"}),
    ),
    "bilinear": (
        "coldkit.models.cold:ContentBilinear",
        "content model trained on interactions (closed-form bilinear ridge)",
        frozenset({"cold-items", "cold-users", "text"}),
    ),
    "cold-mlp": (
        "coldkit.models.cold:ColdMLP",
        "torch MLP map content -> CF item vectors (MSE or BPR), needs torch",
        frozenset({"cold-items", "cold-users", "text", "torch"}),
    ),
    "dropoutnet": (
        "coldkit.models.published:DropoutNet",
        "DropoutNet (NeurIPS 2017): towers trained on the warm model's scores with preference dropout, needs torch",
        frozenset({"cold-items", "cold-users", "text", "torch"}),
    ),
    "heater": (
        "coldkit.models.published:Heater",
        "Heater (SIGIR 2020): mixture-of-experts content transform, randomized training, needs torch",
        frozenset({"cold-items", "cold-users", "text", "torch"}),
    ),
    "clcrec": (
        "coldkit.models.published:CLCRec",
        "CLCRec (MM 2021): contrastive content encoder vs CF embeddings (InfoNCE), needs torch",
        frozenset({"cold-items", "cold-users", "text", "torch"}),
    ),
    "aldi": (
        "coldkit.models.published:ALDI",
        "ALDI (SIGIR 2023): content student distilled from the warm model with alignment losses, needs torch",
        frozenset({"cold-items", "cold-users", "text", "torch"}),
    ),
    "lightfm": (
        "coldkit.models.lightfm_model:LightFMRecommender",
        "LightFM (Kula 2015) hybrid MF over item content features and click features, needs the lightfm extra",
        frozenset({"cold-items", "cold-users", "text", "lightfm"}),
    ),
    "hybrid": (
        "coldkit.models.hybrid:Hybrid",
        "recommended default: CF + cold adapters + content + popularity, adaptive fusion",
        frozenset({"cold-items", "cold-users", "text"}),
    ),
    "router": (
        "coldkit.models.hybrid:Router",
        "known user -> hybrid, text/few clicks -> content+popularity, else popularity",
        frozenset({"cold-items", "cold-users", "text"}),
    ),
    "friends": (
        "coldkit.models.social:FriendsPopularity",
        "popularity among the user's friends (needs a social graph: user_graph or UserQuery.friends)",
        frozenset({"cold-users"}),
    ),
    "federated": (
        "coldkit.privacy.federated:Federated",
        "trained federated with Flower (n_clients, rounds), optional DP on client updates (dp_epsilon), needs flwr",
        frozenset({"cold-items", "cold-users", "private"}),
    ),
    "dp-hybrid": (
        "coldkit.privacy.models:DPHybrid",
        "private hybrid: user-level (ε, δ)-DP CF, popularity and content->CF map (dp_epsilon, dp_delta)",
        frozenset({"cold-items", "cold-users", "text", "private"}),
    ),
    "own-content": (
        "coldkit.privacy.models:OwnContent",
        "content kNN from the user's own clicks; a user without any gets DP popularity (dp_epsilon, dp_delta)",
        frozenset({"cold-items", "cold-users", "text", "private"}),
    ),
    "dp-popularity": (
        "coldkit.privacy.models:DPPopularity", "popularity from user-level DP counts (dp_epsilon, dp_delta)", frozenset({"private"})
    ),
    "dp-item-knn": (
        "coldkit.privacy.models:DPItemKNN", "item-kNN from a user-level DP Gram matrix (dp_epsilon, dp_delta)",
        frozenset({"cold-users", "private"}),
    ),
    "dp-ease": (
        "coldkit.privacy.models:DPEASE", "EASE from a user-level DP Gram matrix (dp_epsilon, dp_delta)",
        frozenset({"cold-users", "private"}),
    ),
    "dp-content-tower": (
        "coldkit.privacy.dpsgd:DPContentTower",
        "content tower trained with user-level DP-SGD (Opacus; dp_epsilon, dp_delta), needs torch + opacus",
        frozenset({"cold-items", "cold-users", "text", "torch", "private"}),
    ),
    **{
        f"dp-{name}": (
            f"coldkit.privacy.adapters:DP{cls}",
            f"{cls} with user-level DP: DP teacher + DP-SGD (Opacus; dp_epsilon, dp_delta), needs torch + opacus",
            frozenset({"cold-items", "cold-users", "text", "torch", "private"}),
        )
        for name, cls in (("dropoutnet", "DropoutNet"), ("heater", "Heater"), ("clcrec", "CLCRec"), ("aldi", "ALDI"))
    },
    "profile-knn": (
        "coldkit.models.hybrid:ProfileKNN",
        "user-based kNN on profile texts (needs user_profiles)",
        frozenset({"cold-users", "text"}),
    ),
}


@hookimpl
def coldkit_models() -> list[ModelSpec]:
    return [
        ModelSpec(name=name, description=description, factory=lazy_factory(target), capabilities=caps)
        for name, (target, description, caps) in BUILTIN_MODELS.items()
    ]
