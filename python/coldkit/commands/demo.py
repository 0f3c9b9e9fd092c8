"""``coldkit demo``: the smallest end-to-end cold-start example, with no data set and no network.

Two new users described only by their own words are matched to three new items described only
by their text: no interaction exists, so collaborative filtering has nothing to say and the
content encoder does all the work.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["register", "run", "DEMO_USERS", "DEMO_ITEMS"]

DEMO_USERS = {
    "user1": "user1 likes basketball and music.",
    "user2": "user2 likes basketball and movies.",
}
DEMO_ITEMS = {
    "item1": "item1 is a basketball game.",
    "item2": "item2 is a basketball jersey.",
    "item3": "item3 is a movie about basketball.",
}


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "demo",
        help="rank three new items for two new users from their texts alone",
        description="Cold-start demo: users and items known only by text, ranked with a content encoder.",
    )
    parser.add_argument("--encoder", default="hashing", help="registered encoder name (default: hashing)")
    parser.add_argument("--k", type=int, default=3, help="items per user (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coldkit.plugins.manager import get_encoder
    from coldkit.similarity import topk

    if args.k < 1:
        from coldkit.exceptions import InvalidInputError

        raise InvalidInputError(f"--k must be >= 1 (items per user), got {args.k}")
    encoder = get_encoder(args.encoder)
    item_ids = list(DEMO_ITEMS)
    fit = getattr(encoder, "fit", None)
    if callable(fit):  # a corpus-fitted encoder (TF-IDF) learns its weights from the catalogue
        fit(list(DEMO_ITEMS.values()))
    item_vectors = encoder.encode_texts(list(DEMO_ITEMS.values()))
    user_vectors = encoder.encode_texts(list(DEMO_USERS.values()))
    scores, indices = topk(user_vectors, item_vectors, args.k)
    result = {
        user: [{"item": item_ids[i], "score": round(float(s), 4)} for s, i in zip(srow, irow) if i >= 0]
        for user, srow, irow in zip(DEMO_USERS, scores, indices)
    }
    if args.json:
        print(json.dumps({"encoder": args.encoder, "recommendations": result}, indent=2))
        return 0
    print(f"encoder: {args.encoder}")
    for user, recs in result.items():
        print(f"{user} ({DEMO_USERS[user]!r})")
        for rank, rec in enumerate(recs, 1):
            print(f"  {rank}. {rec['item']}  {rec['score']:.4f}  {DEMO_ITEMS[rec['item']]!r}")
    return 0
