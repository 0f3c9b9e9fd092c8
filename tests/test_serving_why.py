"""The "why" of an item the query's text ranked without a shared word names that closeness, not popularity."""

from __future__ import annotations

import re

import numpy as np


def test_an_item_ranked_by_text_without_a_shared_word_says_so(make_tiny_index) -> None:
    index = make_tiny_index()
    # the hashing encoder stems ("dramas wars" -> drama, war): the drama/war items match by the encoder,
    # with no word in common for the "matches your words" reason. The why said "popular: N users"
    result = index.recommend(text="dramas wars", k=5)
    query = index.encode_user_texts(["dramas wars"])[0]
    v = index.version
    for item in result.items:
        row = int(v.item_row[v.item_index[item.id]])
        assert "drama war" in v.row_meta[row].text
        # popularity (weight 0.5, as the text's) may speak for the item too: it is near the top of both
        match = re.fullmatch(r"close to your words \(content (\d\.\d\d)\)(; popular: \d+ users?)?", item.why or "")
        assert match, item.why
        assert float(match.group(1)) == round(float(np.dot(v.content[row], query)), 2)  # the cosine, computed here


def test_items_the_text_did_not_rank_keep_the_popularity_reason(make_tiny_index) -> None:
    index = make_tiny_index()
    assert all(i.why and i.why.startswith("popular: ") for i in index.recommend(k=5).items)  # no text at all
    result = index.recommend(text="dramas wars", k=30, exclude_known=False)
    odd = [i for i in result.items if "comedy heist" in index.item_info(i.id)["text"]]  # nothing to do with the words
    assert odd and all(not (i.why or "").startswith("close to your words") for i in odd)


def _varied_index(**options):  # type: ignore[no-untyped-def]
    """Items of two words each from a small vocabulary (content similarities from 0 up), users with many clicks (CF speaks)."""
    import pandas as pd
    from scipy import sparse

    from coldkit.data import Catalog, Interactions
    from coldkit.serving import ServingIndex

    rng = np.random.default_rng(3)
    n_items, n_users = 60, 80
    vocabulary = np.array(["harbor", "violin", "glacier", "orchard", "lantern", "comet", "falcon", "meadow",
                           "quarry", "saddle", "tundra", "walnut", "anchor", "bramble", "cinder", "dune"])
    titles = [" ".join(rng.choice(vocabulary, 2, replace=False)) for _ in range(n_items)]
    groups = np.arange(n_items) % 3  # three tastes: CF has structure to learn, content does not see it
    taste = rng.integers(0, 3, n_users)
    matrix = (rng.random((n_users, n_items)) < np.where(groups[None, :] == taste[:, None], 0.5, 0.03)).astype(np.float32)
    data = Interactions(np.array([f"u{j}" for j in range(n_users)]),
                        Catalog(np.array([f"i{j}" for j in range(n_items)]), pd.DataFrame({"title": titles}), ["title"]),
                        sparse.csr_matrix(matrix))
    # tune=False: the defaults' weights (cf 1, content 0.1...), not ones learned on this small a set
    return ServingIndex.build(data, encoder="hashing", cache=False, category_column=None, tune=False, **options)


def test_a_reason_of_negligible_weight_is_not_given_for_an_item_cf_ranked() -> None:
    index = _varied_index()
    v = index.version
    user = max(v.user_ids, key=lambda u: len(index.user_items(u)))  # many clicks: CF weighs ~0.9, content 0.1
    result = index.recommend(user, k=10)
    assert result.sources["cf"] > 5 * result.sources["content"] > 0
    for item in result.items:
        # was "similar to 'i7' (content 0.03)": the content source, at a tenth of CF's weight, named for every item
        assert "similar to" not in (item.why or ""), item.why
        assert re.fullmatch(r"(liked by users with clicks like yours|popular: \d+ users)(; .*)?", item.why or ""), item.why


def test_when_the_content_source_ranks_the_why_names_the_nearest_click() -> None:
    index = _varied_index(weights={"cf": 0.0, "content": 1.0, "text": 0.0, "popularity": 0.0})
    v = index.version
    user = v.user_ids[0]
    result = index.recommend(user, k=5)
    clicked = [v.item_index[i] for i in index.user_items(user)]
    for item in result.items:
        row = int(v.item_row[v.item_index[item.id]])
        sims = v.content[v.item_row[clicked]] @ v.content[row]  # the nearest click, computed here
        nearest = index.user_items(user)[int(np.argmax(sims))]
        assert item.why == f"similar to {nearest!r} (content {float(sims.max()):.2f})"


def test_speaking_sources_weighs_each_sources_part() -> None:
    from coldkit.models.blend import score_parts
    from coldkit.serving.reads import speaking_sources

    # the score rule (the fallback for an item no list holds): (weight, the item's score, the source's best score)
    assert speaking_sources(score_parts({"cf": (0.93, 0.6, 1.0), "content": (0.1, 0.9, 1.0)})) == ["cf"]  # 0.558 vs 0.09
    assert speaking_sources(score_parts({"cf": (0.25, 0.8, 1.0), "popularity": (0.38, 508.0, 583.0)})) == ["popularity", "cf"]
    assert speaking_sources(score_parts({"cf": (0.9, 0.9, 1.0), "content": (0.1, 0.03, 0.5)})) == ["cf"]
    assert speaking_sources(score_parts({"content": (1.0, 0.03, 0.5)})) == ["content"]  # alone, it ranked the item however low
    assert speaking_sources(score_parts({"cf": (0.0, 1.0, 1.0), "text": (0.5, -0.1, 0.4)})) == []  # no weight; a negative score
    # parts as the fusion reports them: half the strongest speaks
    assert speaking_sources({"text": 0.5 / 63, "popularity": 0.5 / 1660}) == ["text"]
    assert speaking_sources({"cf": 0.3, "content": 0.15, "popularity": 0.1}) == ["cf", "content"]
    assert speaking_sources({"cf": 0.0, "text": 0.0}) == []


def _ranked_index(fusion: str, weights: dict):  # type: ignore[no-untyped-def]
    """100 items with distinct titles and distinct popularity (item j clicked by 200 - j users, so every
    count is at least half the best): score fusion and rank fusion disagree on popularity's part."""
    import pandas as pd
    from scipy import sparse

    from coldkit.data import Catalog, Interactions
    from coldkit.serving import ServingIndex

    vocabulary = ["harbor", "violin", "glacier", "orchard", "lantern", "comet", "falcon", "meadow", "quarry",
                  "saddle", "tundra", "walnut", "anchor", "bramble", "cinder", "dune", "ember", "fjord"]
    pairs = [f"{a} {b}" for i, a in enumerate(vocabulary) for b in vocabulary[i + 1:]]
    titles = list(np.random.default_rng(5).permutation(pairs)[:100])
    titles[80] = "zeppelin marmalade"  # the only item with these words, 81st by popularity
    n_users = 200
    matrix = (np.arange(n_users)[:, None] < (200 - np.arange(100))[None, :]).astype(np.float32)
    data = Interactions(np.array([f"u{j}" for j in range(n_users)]),
                        Catalog(np.array([f"i{j}" for j in range(100)]), pd.DataFrame({"title": titles}), ["title"]),
                        sparse.csr_matrix(matrix))
    return ServingIndex.build(data, encoder="hashing", cache=False, category_column=None, tune=False,
                              fusion=fusion, weights=weights)


def test_under_rank_fusion_the_why_names_what_the_ranks_added() -> None:
    """rrf adds w / (60 + rank): i80, first for the text and 81st for popularity, owes its place to the text
    (0.5/61 against 0.5/141, under half). The why named popularity too ("popular: 120 users"): its part
    was taken as weight x count / best count (0.5 x 0.6), the rule of score fusion."""
    index = _ranked_index("rrf", {"cf": 0.0, "content": 0.0, "text": 0.5, "popularity": 0.5})
    result = index.recommend(text="zeppelin marmalade", k=20)
    why = {item.id: item.why for item in result.items}
    assert why["i80"] == "matches your words: marmalade, zeppelin"
    assert any((w or "").startswith("popular: ") for w in why.values())  # where popularity ranked the item
    # independent reference: each listed item's rrf parts from its text rank and its popularity rank
    v = index.version
    text = index.encode_user_texts(["zeppelin marmalade"])[0]
    closeness = v.content @ text
    checked = 0
    for item in result.items:
        row = int(v.item_row[v.item_index[item.id]])
        text_rank = 1 + int(np.sum(closeness > closeness[row]))
        pop_rank = 1 + int(np.sum(v.item_count > v.item_count[v.row_item[row]]))
        parts = {"text": 0.5 / (60 + text_rank), "popularity": 0.5 / (60 + pop_rank)}
        if int(np.sum(closeness == closeness[row])) > 1:  # a tie's rank depends on the order within it
            continue
        checked += 1
        top = max(parts.values())
        assert ("popular: " in (item.why or "")) == (parts["popularity"] >= 0.5 * top), (item.id, item.why, parts)
    assert checked >= 10


def test_under_score_fusion_the_why_follows_the_min_max_parts() -> None:
    """weighted (min-max) adds w x (s - min) / (max - min) over each source's list: i80's popularity,
    81st of 100 counts from 200 down to 101, adds 0.5 x 20/99, under half the text's 0.5."""
    index = _ranked_index("weighted", {"cf": 0.0, "content": 0.0, "text": 0.5, "popularity": 0.5})
    result = index.recommend(text="zeppelin marmalade", k=20)
    assert {item.id: item.why for item in result.items}["i80"] == "matches your words: marmalade, zeppelin"


def test_an_item_the_text_ranked_without_being_close_is_not_explained_by_popularity() -> None:
    """Only the text weighed: whatever it ranks, it ranked. Below "close" (half the best match) with no shared
    word, or with every cosine negative, the why fell back to "popular: N users", a source of weight 0."""
    index = _ranked_index("weighted", {"cf": 0.0, "content": 0.0, "text": 1.0, "popularity": 0.0})
    v = index.version
    query = "zeppelin marmalade"
    closeness = v.content @ index.encode_user_texts([query])[0]
    ids = [v.item_ids[int(v.row_item[r])] for r in range(len(closeness))]
    negative = [i for i, c in zip(ids, closeness) if c < 0]
    assert len(negative) >= 3  # the hashing encoder's whitened vectors: unrelated items below 0
    for candidates in (negative, ["i80", *[i for i, c in zip(ids, closeness) if 0 < c < 0.5 * closeness.max()]]):
        result = index.recommend(text=query, k=10, candidates=candidates)
        for item in result.items:
            c = float(closeness[v.item_row[v.item_index[item.id]]])
            if item.id == "i80":
                assert item.why == "matches your words: marmalade, zeppelin"
            else:
                assert item.why == f"among the closest to your words, though not close (content {c:.2f})", item.why


def test_the_popularity_reason_counts_users_in_the_singular_and_plural(make_tiny_index) -> None:
    index = make_tiny_index()
    index.upsert_items([{"id": "one-click", "text": "a heist"}, {"id": "two-clicks", "text": "a heist"},
                        {"id": "no-click", "text": "a heist"}])  # the list's floor: min-max gives the lowest 0
    index.add_interactions([("why-a", "one-click"), ("why-a", "two-clicks"), ("why-b", "two-clicks")])
    # no clicks, no text: popularity alone ranks, so it gives every reason; the reference is the item's own count
    result = index.recommend(k=2, candidates=["one-click", "two-clicks", "no-click"])
    reasons = {item.id: item.why for item in result.items}
    assert index.item_info("one-click")["interactions"] == 1 and index.item_info("two-clicks")["interactions"] == 2
    assert reasons == {"one-click": "popular: 1 user", "two-clicks": "popular: 2 users"}
    index.close()
