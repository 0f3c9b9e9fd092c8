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
        match = re.fullmatch(r"close to your words \(content (\d\.\d\d)\)", item.why or "")
        assert match, item.why
        assert float(match.group(1)) == round(float(np.dot(v.content[row], query)), 2)  # the cosine, computed here


def test_items_the_text_did_not_rank_keep_the_popularity_reason(make_tiny_index) -> None:
    index = make_tiny_index()
    assert all(i.why and i.why.startswith("popular: ") for i in index.recommend(k=5).items)  # no text at all
    result = index.recommend(text="dramas wars", k=30, exclude_known=False)
    odd = [i for i in result.items if "comedy heist" in index.item_info(i.id)["text"]]  # nothing to do with the words
    assert odd and all(not (i.why or "").startswith("close to your words") for i in odd)
