"""Item attributes (numbers in the item table, a title's year) as content features of the hybrid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import coldkit
from coldkit.data import UserQuery
from coldkit.data.loaders import catalog_from_frame, interactions_from_frame
from coldkit.exceptions import InvalidInputError
from coldkit.models.attributes import BUMPS, AttributeFeatures, attribute_block, attribute_columns


def test_attribute_columns_reads_numbers_and_title_years_not_ids() -> None:
    table = pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(40)],
            "title": [f"Film {k} ({1950 + k % 7})" for k in range(40)],
            "price": [str(1.5 + k % 9) if k % 10 else "" for k in range(40)],  # numbers stored as text, some empty
            "movieId": list(range(40)),  # an id by its name
            "code": list(range(100, 140)),  # one distinct integer per item: an unnamed identifier
            "flag": [k % 2 for k in range(40)],
            "constant": [3] * 40,  # one value says nothing
            "poster": [f"p/{k}.jpg" for k in range(40)],
            "genres": ["Drama"] * 40,
        }
    )
    found = attribute_columns(table, text_columns=["title", "genres"], skip=["poster"])
    assert list(found) == ["title year", "price", "flag"]
    assert found["title year"][:3].tolist() == [1950.0, 1951.0, 1952.0]
    assert np.isnan(found["price"][0]) and found["price"][1] == 2.5
    # a title column without years gives none; a column that is mostly words is not numeric
    assert attribute_columns(pd.DataFrame({"item_id": ["a", "b"], "title": ["Heat", "Up"], "n": ["x", "2"]}), ["title"]) == {}


def test_date_columns_are_attributes_in_days_and_not_item_text() -> None:
    from coldkit.data.loaders import date_days, text_like_columns

    table = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "title": ["Heat", "Up", "Jaws", "Alien"],
            "release_date": ["01-Jan-1995", "15-Mar-2009", "", "20-Jun-1975"],  # MovieLens 100k's u.item
            "published": ["2020-01-01", "2021-05-06T12:00:00Z", "2019-12-31", "2020-02-29"],  # one date per item
            "us": ["01/02/2020", "12/31/2020", "03/04/2021", "05/06/2021"],  # day 31 second: month first
            "eu": ["31/01/2020", "13/02/2020", "01/03/2021", "02/03/2021"],  # day 31 first: day first
            "notes": ["seen 2 times", "1 of 3", "none", "new"],  # digits, not dates
        }
    )
    # dates are neither words of the item nor, when each item has its own, an identifier
    assert text_like_columns(table) == ["title", "notes"]
    found = attribute_columns(table, text_columns=["title", "notes"])
    assert list(found) == ["release_date", "published", "us", "eu"]
    # independent reference: whole days between the dates (the epoch is 1970-01-01)
    assert found["release_date"][[0, 1, 3]].tolist() == [9131.0, 14318.0, 1996.0] and np.isnan(found["release_date"][2])
    assert found["published"].tolist() == [18262.0, 18753.5, 18261.0, 18321.0]
    assert found["us"].tolist() == [18263.0, 18627.0, 18690.0, 18753.0]  # Jan 2, Dec 31, Mar 4, May 6
    assert found["eu"].tolist() == [18292.0, 18305.0, 18687.0, 18688.0]  # Jan 31, Feb 13, Mar 1, Mar 2
    # datetime and period dtypes (Parquet, pandas) read alike; a column with too many non-dates is not dates
    moments = pd.Series(pd.to_datetime(["1995-01-01", "2009-03-15"]))
    assert date_days(moments).tolist() == [9131.0, 14318.0]
    assert date_days(moments.dt.to_period("D")).tolist() == [9131.0, 14318.0]
    assert date_days(pd.Series(["2020-01-01"] * 8 + ["soon", "later"])) is None  # 80 % dates: below the share
    assert date_days(pd.Series(["Heat", "Up"])) is None and date_days(pd.Series([1.0, 2.0])) is None


def test_attribute_block_is_scale_free_unit_and_fills_missing_with_the_mean() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(size=200)
    block = attribute_block(values)
    assert block.shape == (200, BUMPS)
    np.testing.assert_allclose(np.linalg.norm(block, axis=1), 1.0, rtol=1e-5)
    # quantiles, not the numbers: any increasing transform (cents, log scale) gives the same features
    np.testing.assert_allclose(attribute_block(np.log(values) * 100 + 7), block, atol=1e-6)
    # the nearest quantile's bump is the largest: the smallest value peaks at the first bump, the largest at the last
    assert block[np.argmin(values)].argmax() == 0 and block[np.argmax(values)].argmax() == BUMPS - 1
    with_gap = values.copy()
    with_gap[5] = np.nan
    filled = attribute_block(with_gap)
    np.testing.assert_allclose(filled[5], np.delete(filled, 5, axis=0).mean(axis=0), atol=1e-6)
    flags = attribute_block(np.array([0.0, 1.0, 1.0, np.nan]))
    np.testing.assert_allclose(flags.ravel(), [0.0, 1.0, 1.0, 2 / 3], atol=1e-6)


def _era_data(n_users: int = 60, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Two kinds of users: fans of old films (1950s–60s) and of new ones (2000s–10s).

    Titles are random words, and warm items carry even years while the cold ones carry odd years,
    so no word and no exact year token is shared between a cold item and a warm one: only the
    year read as a number (near 1955 or near 2010) tells who will like a new film.
    """
    rng = np.random.default_rng(seed)
    words = [f"w{k}" for k in range(400)]
    items, cold = [], []
    for k in range(160):
        old = k % 2 == 0
        warm = k < 120
        base = 1950 if old else 2000
        year = base + 2 * int(rng.integers(0, 10)) + (0 if warm else 1)
        item = f"m{k}"
        items.append({"item_id": item, "title": " ".join(rng.choice(words, 3)) + f" ({year})"})
        if not warm:
            cold.append(item)
    rows = []
    for u in range(n_users):
        old_fan = u % 2 == 0
        liked = [f"m{k}" for k in range(120) if (k % 2 == 0) == old_fan]
        for item in rng.choice(liked, 15, replace=False):
            rows.append({"user_id": f"u{u}", "item_id": item})
    return pd.DataFrame(rows), pd.DataFrame(items), cold


def test_hybrid_ranks_new_items_by_their_year() -> None:
    interactions, items, cold = _era_data()
    catalog = catalog_from_frame(items)
    train = interactions_from_frame(interactions, catalog)
    candidates = catalog.index_of(cold)
    old_cold = {catalog.index_of([c])[0] for c in cold if int(items.set_index("item_id").loc[c, "title"][-5:-1]) < 1980}
    users = train.user_index()
    queries = [UserQuery(user=users[f"u{u}"]) for u in range(10)]
    share = {}
    for attributes in (True, False):
        model = coldkit.get_model("hybrid", encoder="hashing", attributes=attributes, tune=False).fit(train)
        top = model.recommend(queries, 10, candidates=candidates).indices
        right = [np.isin(top[b], list(old_cold)) == (b % 2 == 0) for b in range(len(queries))]
        share[attributes] = float(np.mean(right))
    assert model.attributes_used_ == []
    assert share[True] >= 0.9, share  # old-film fans get old new films, new-film fans new ones
    assert share[False] < 0.7, share  # without the year as a number, titles of random words cannot tell


def test_hybrid_ranks_new_items_by_their_release_date() -> None:
    interactions, items, cold = _era_data()
    # the year leaves the title for a written-out date column, as in MovieLens 100k's u.item
    year = items["title"].str[-5:-1].astype(int)
    items = items.assign(title=items["title"].str[:-7], released=[f"{1 + k % 28:02d}-Mar-{y}" for k, y in enumerate(year)])
    catalog = catalog_from_frame(items)
    assert list(catalog.text_columns) == ["title"]  # the date is not words of the item
    train = interactions_from_frame(interactions, catalog)
    candidates = catalog.index_of(cold)
    old_cold = set(catalog.index_of([c for c, y in zip(items["item_id"], year) if c in set(cold) and y < 1980]))
    users = train.user_index()
    queries = [UserQuery(user=users[f"u{u}"]) for u in range(10)]
    model = coldkit.get_model("hybrid", encoder="hashing", tune=False).fit(train)
    assert model.attributes_used_ == ["released"]
    top = model.recommend(queries, 10, candidates=candidates).indices
    right = [np.isin(top[b], list(old_cold)) == (b % 2 == 0) for b in range(len(queries))]
    assert float(np.mean(right)) >= 0.9  # old-film fans get old new films, new-film fans new ones


def test_hybrid_says_which_attributes_it_read_and_refuses_bad_options() -> None:
    interactions, items, _ = _era_data(n_users=20)
    train = interactions_from_frame(interactions, catalog_from_frame(items))
    model = coldkit.get_model("hybrid", encoder="hashing", tune=False).fit(train)
    assert model.attributes_used_ == ["title year"]
    assert any("item attributes read as content: title year" in note for note in model.notes_)
    # a user's words have no attributes: the text's attribute part is zero, not minus the items' mean
    content = model.cf.content
    assert isinstance(content.encoders[-1], AttributeFeatures)
    text_vector = content.encode_user_texts(["w1 w2"])
    width = content._widths[-1]
    assert np.all(text_vector[:, -width:] == 0) and np.any(text_vector[:, :-width] != 0)
    plain = pd.DataFrame({"item_id": items["item_id"], "title": items["title"].str.replace(r" \(\d{4}\)$", "", regex=True)})
    train_plain = interactions_from_frame(interactions, catalog_from_frame(plain))
    with pytest.raises(InvalidInputError, match="no numeric attribute column"):
        coldkit.get_model("hybrid", encoder="hashing", attributes=True, tune=False).fit(train_plain)
    for bad in (0, -1.0, float("nan"), True, "0.5"):
        with pytest.raises(InvalidInputError, match="attribute_weight"):
            coldkit.get_model("hybrid", encoder="hashing", attribute_weight=bad)
    with pytest.raises(InvalidInputError, match="attributes must be"):
        coldkit.get_model("hybrid", encoder="hashing", attributes="yes")


def test_hybrid_encodes_the_catalogue_and_parses_its_attributes_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ridge map reads [encoder, attributes], the content sources the encoder alone: one encoding pass."""
    from coldkit.builtins.encoders import HashingEncoder
    from coldkit.models import attributes as attributes_module
    from coldkit.models.content import ContentRecommender

    class CountingEncoder(HashingEncoder):
        catalogue_passes = 0

        def encode_texts(self, texts):  # type: ignore[no-untyped-def]
            if len(texts) == 160:  # the whole catalogue, not a query's text
                CountingEncoder.catalogue_passes += 1
            return super().encode_texts(texts)

    parsed = []
    real = attributes_module.attribute_columns
    monkeypatch.setattr(attributes_module, "attribute_columns", lambda *a, **k: parsed.append(1) or real(*a, **k))
    interactions, items, _ = _era_data(n_users=40)
    train = interactions_from_frame(interactions, catalog_from_frame(items))
    model = coldkit.get_model("hybrid", encoder=CountingEncoder(), cache=False, tune=True).fit(train)
    assert model.attributes_used_ == ["title year"] and model.content is not model.cf.content
    assert CountingEncoder.catalogue_passes == 1  # the validation fit and the final fit share it too
    assert len(parsed) == 1
    # the content sources' vectors are exactly what their own encoding pass would give
    alone = ContentRecommender(encoder=HashingEncoder(), cache=False).fit(train)
    np.testing.assert_array_equal(model.content.item_vectors(), alone.item_vectors())


def test_a_refit_reads_the_table_as_it_is_now_and_keeps_no_old_catalogue() -> None:
    """The columns found are remembered within one fit only: a table changed in place between fits is read anew."""
    interactions, items, _ = _era_data(n_users=30)
    train = interactions_from_frame(interactions, catalog_from_frame(items))
    model = coldkit.get_model("hybrid", encoder="hashing", cache=False, tune=False).fit(train)
    assert model.attributes_used_ == ["title year"]
    train.catalog.table["budget"] = np.random.default_rng(0).lognormal(size=len(train.catalog.table))
    assert model.fit(train).attributes_used_ == ["title year", "budget"]
    del train.catalog.table["budget"]
    train.catalog.table["title"] = "plain title"
    assert model.fit(train).attributes_used_ == []
    assert model._attributes_reader is None or model._attributes_reader._found_on is None  # nothing of A kept


def test_dates_outside_the_nanosecond_range_are_read_not_a_crash() -> None:
    """A book catalogue's "1605-01-16" (Don Quixote) or a "9999-12-31" "no end" sentinel: pandas reads such dates
    at microsecond or second resolution, and subtracting a nanosecond epoch raised OutOfBoundsDatetime, which
    failed the whole load of the item table (text_like_columns calls date_days on every text column)."""
    import datetime

    from coldkit.data.loaders import date_days, text_like_columns

    written = ["1605-01-16", "1995-01-01", "9999-12-31", "1850-07-04"]
    # independent reference: the standard library's proleptic Gregorian day count
    expected = [float((datetime.date.fromisoformat(d) - datetime.date(1970, 1, 1)).days) for d in written]
    assert date_days(pd.Series(written)).tolist() == expected
    assert date_days(pd.Series(["16-Jan-1605", "01-Jan-1995"])).tolist() == expected[:2]
    stored = pd.Series(np.array(written, dtype="datetime64[s]"))  # a Parquet column at second resolution
    assert date_days(stored).tolist() == expected
    table = pd.DataFrame({"item_id": list("abcd"), "title": ["Don Quixote", "Heat", "Soon", "Walden"], "published": written})
    assert text_like_columns(table) == ["title"]
    assert attribute_columns(table, ["title"])["published"].tolist() == expected



def test_a_day_first_column_is_read_day_first_when_its_first_rows_read_both_ways() -> None:
    """The format is chosen on the first distinct values; where those read alike month-first and day-first
    ("01/02/2020"), a day above 12 further down ("25/12/2020") was left unread (NaN) and every other date of the
    column read month-first: February 1st became January 2nd, silently."""
    import datetime

    from coldkit.data.loaders import date_days

    ambiguous = [f"{d:02d}/{m:02d}/2020" for d in range(1, 13) for m in range(1, 13)]  # 144 dates, all <= 12
    written = ambiguous * 40 + ["25/12/2020", "31/01/2021"] * 20  # 5,760 ambiguous rows first, then 40 day-first
    days = date_days(pd.Series(written))
    assert days is not None
    reference = [float((datetime.datetime.strptime(d, "%d/%m/%Y").date() - datetime.date(1970, 1, 1)).days) for d in written]
    assert days.tolist() == reference


def test_a_catalogue_reads_each_date_column_once_and_gives_the_same_days(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a catalogue asked twice whether a column is dates (text_like_columns to keep it out of the text,
    attribute_columns to read it): a 1M-row column of distinct dates was parsed twice, seconds each. Now once per
    table and column, with the same columns and values as a fresh parse (and the standard library's day count)."""
    import datetime
    import gc

    from coldkit.data import loaders

    reads = []
    real = loaders._read_dates
    monkeypatch.setattr(loaders, "_read_dates", lambda *a, **k: reads.append(1) or real(*a, **k))
    n = 5000  # more rows than the 4,096 the format is decided on
    start = datetime.date(1990, 1, 1)
    dates = [start + datetime.timedelta(days=(7919 * i) % 20000) for i in range(n)]
    released = [d.strftime("%d-%b-%Y") for d in dates]
    released[3] = ""  # an empty one stays missing
    published = [d.isoformat() for d in dates]
    # the first 4,096 rows read as dates, the rest do not: the whole column is parsed, and it is text
    noted = published[:4096] + [f"seen {i} times" for i in range(n - 4096)]
    items = pd.DataFrame(
        {"item_id": [f"i{i}" for i in range(n)], "title": [f"Film {i}" for i in range(n)], "released": released,
         "published": published, "noted": noted}
    )
    catalog = catalog_from_frame(items)
    assert catalog.text_columns == ("title", "noted")
    found = attribute_columns(catalog.table, catalog.text_columns)
    assert list(found) == ["released", "published"]
    assert len(reads) == 3  # released, published, noted: one parse each for both questions
    reference = [float((d - datetime.date(1970, 1, 1)).days) for d in dates]
    np.testing.assert_array_equal(found["published"], reference)
    assert np.isnan(found["released"][3])
    np.testing.assert_array_equal(np.delete(found["released"], 3), np.delete(reference, 3))
    # a fresh parse of each column (no table to keep it with) gives the same
    for column in ("released", "published"):
        np.testing.assert_array_equal(loaders.date_days(catalog.table[column]).to_numpy(), found[column])
    assert loaders.date_days(catalog.table["noted"]) is None
    assert len(reads) == 6
    # asked again: still the same answer, still no parse
    again = attribute_columns(catalog.table, catalog.text_columns)
    assert list(again) == list(found) and all(np.array_equal(again[c], found[c], equal_nan=True) for c in found)
    assert loaders.text_like_columns(catalog.table) == ["title", "noted"] and len(reads) == 6

    # a table changed in place, or a column replaced, is read anew (its text differs from the text parsed)
    catalog.table.loc[0, "published"] = "2000-01-01"
    assert attribute_columns(catalog.table, catalog.text_columns)["published"][0] == 10957.0 and len(reads) == 7
    catalog.table["released"] = "later"
    assert "released" not in attribute_columns(catalog.table, catalog.text_columns)
    assert "released" in loaders.text_like_columns(catalog.table)
    # what is kept goes with the table
    key = id(catalog.table)
    assert key in loaders._DATES_READ
    del catalog
    gc.collect()
    assert key not in loaders._DATES_READ


def test_a_date_column_written_in_several_formats_is_read_as_dates_not_item_text() -> None:
    """An item table merged from several sources writes its dates several ways ("26.03.1995", "1995-03-26",
    "Mar 26, 1995"). No one format read 90 % of the column, so it was not dates: it became item text, silently
    (its dates were lost to the attributes, and an item without other text looked as if it had some)."""
    import datetime

    from coldkit.data.loaders import date_days, text_like_columns

    moments = [datetime.date(1950, 1, 1) + datetime.timedelta(days=397 * i) for i in range(60)]
    forms = ["%d.%m.%Y", "%Y-%m-%d", "%b %d, %Y"]  # 20 of each: no format reads more than a third
    written = [day.strftime(forms[i % 3]) for i, day in enumerate(moments)]
    # independent reference: the standard library's day count of the dates written
    expected = [float((day - datetime.date(1970, 1, 1)).days) for day in moments]
    days = date_days(pd.Series(written))
    assert days is not None and days.tolist() == expected
    table = pd.DataFrame({"item_id": [f"b{i}" for i in range(60)], "name": [f"Book {i}" for i in range(60)], "published": written})
    assert text_like_columns(table) == ["name"]
    assert attribute_columns(table, ["name"])["published"].tolist() == expected
    # month-first and day-first are never both used in one column: "01/02/2020" is read the way its column reads
    # "25/12/2020" (day first), not the other way; and a column of words with a few dates is still not dates
    assert date_days(pd.Series(["01/02/2020", "2020-01-05", "25/12/2020", "31/01/2021"])).tolist() == [18293.0, 18266.0, 18621.0, 18658.0]
    assert date_days(pd.Series(["2020-01-01"] * 4 + ["01.02.2020"] * 4 + ["soon", "later"])) is None  # 80 %


def test_month_year_and_cjk_dates_are_dates() -> None:
    """Books and magazines are often dated by month ("Mar 1995", "03/1995"), and Chinese or Japanese catalogues
    write "1995年3月26日". No format read them: "Mar 1995" was item text, and "1995年3月26日" (a single token with
    digits, near-unique per item) was taken for an identifier and read neither as text nor as an attribute."""
    import datetime

    from coldkit.data.loaders import date_days, text_like_columns

    moments = [datetime.date(1960 + i // 12, 1 + i % 12, 1 + (7 * i) % 28) for i in range(40)]
    # independent reference: the standard library's day count (the first of the month where no day is written)
    def reference(days: bool) -> list[float]:
        return [float(((day if days else day.replace(day=1)) - datetime.date(1970, 1, 1)).days) for day in moments]

    for written, days in (
        ([d.strftime("%b %Y") for d in moments], False),
        ([d.strftime("%B %Y") for d in moments], False),
        ([d.strftime("%m/%Y") for d in moments], False),
        ([f"{d.year}年{d.month}月{d.day}日" for d in moments], True),
        ([f"{d.year}年{d.month}月" for d in moments], False),
    ):
        found = date_days(pd.Series(written))
        assert found is not None and found.tolist() == reference(days), written[:2]
        table = pd.DataFrame({"item_id": [f"i{i}" for i in range(40)], "title": [f"Issue {i}" for i in range(40)], "issued": written})
        assert text_like_columns(table) == ["title"]
        assert attribute_columns(table, ["title"])["issued"].tolist() == reference(days)


def test_prices_written_with_their_currency_are_numbers_not_item_text() -> None:
    """A scraped catalogue writes its prices "$12.99" or "12,99 €": neither numbers to pandas nor words. Such a
    column was joined into every item's text (items matched by their price tokens, and an item without other text
    was not reported as one) and the attributes never read the price."""
    from coldkit.data.loaders import money_numbers, text_like_columns

    cents = [199 + 7919 * i % 150_000 for i in range(40)]  # independent reference: whole cents
    expected = [c / 100 for c in cents]
    point = [f"${c // 100:,}.{c % 100:02d}" for c in cents]  # "$1,299.00"
    comma = [f"{c // 100:,}".replace(",", ".") + f",{c % 100:02d} €" for c in cents]  # "1.299,00 €"
    for written in (point, comma, [f"EUR {c / 100:.2f}" for c in cents], [f"{c / 100:.2f}元" for c in cents]):
        found = money_numbers(pd.Series(written))
        assert found is not None and found.tolist() == pytest.approx(expected), written[:2]
        table = pd.DataFrame({"item_id": [f"i{i}" for i in range(40)], "title": [f"Item {i}" for i in range(40)], "price": written})
        assert text_like_columns(table) == ["title"]
        assert attribute_columns(table, ["title"])["price"].tolist() == pytest.approx(expected)
    # an empty price is missing, not a reason to read the column as text
    assert money_numbers(pd.Series(["$5", "", "$7.50"])).tolist()[::2] == [5.0, 7.5]
    # words, plain numbers with words among them, and codes with digits are not prices
    assert money_numbers(pd.Series(["Heat", "$5", "Up", "Jaws"])) is None
    assert money_numbers(pd.Series(["12.99", "N/A", "soon", "7"])) is None
    assert money_numbers(pd.Series(["Vol 1", "Vol 2", "MP3 320"])) is None


def test_counts_unique_per_item_are_attributes_but_ids_and_codes_are_not() -> None:
    """A listener count or a duration is as unique per item as an id; a dense run of numbers or fixed-width
    codes (ISBN-13, 6-digit product numbers) is an identifier."""
    rng = np.random.default_rng(0)
    n = 3000
    listeners = rng.choice(np.arange(100, 100_000), size=n, replace=False)  # 3 to 5 digits
    table = pd.DataFrame({
        "item_id": [f"i{k}" for k in range(n)],
        "listeners": listeners,
        "seconds": rng.choice(np.arange(60, 20_000), size=n, replace=False),
        "row": np.arange(n),  # 0, 1, 2, … : a row number
        "sku": 500_000 + np.arange(n) * 3,  # a sequence from an offset, every third number
        "ean": rng.choice(np.arange(9_780_000_000_000, 9_790_000_000_000, 997), size=n, replace=False),  # 13 digits
        "product_no": rng.choice(np.arange(100_000, 1_000_000), size=n, replace=False),  # 6 digits each
    })
    found = attribute_columns(table)
    assert sorted(found) == ["listeners", "seconds"]
    np.testing.assert_array_equal(found["listeners"], listeners.astype(np.float64))


def test_a_flag_set_on_one_item_alone_is_left_out_and_the_hybrid_fits() -> None:
    # a lone is_new = 1 (a typical cold-start column) gave the attributes one non-zero row, and the hybrid
    # failed to fit: "encoder 'attributes' returned a zero vector for all but 1 of 4 catalogue items"
    ratings = pd.DataFrame({"user_id": ["ann", "ann", "bob", "bob", "cy"], "item_id": ["m1", "m2", "m2", "m3", "m1"]})
    movies = pd.DataFrame({"item_id": ["m1", "m2", "m3", "m4"], "title": ["Toy Story", "Alien", "Heat", "Toy Story 4"],
                           "genres": ["Animation|Comedy", "Sci-Fi|Horror", "Crime|Thriller", "Animation|Comedy"]})
    lone = movies.assign(is_new=[0, 0, 0, 1], score=[1.5, 1.5, 1.5, 2.5])
    assert attribute_columns(lone, ["title", "genres"]) == {}
    model = coldkit.models.create("hybrid", encoder="hashing").fit(ratings, items=lone)
    assert model.attributes_used_ == []
    assert len(model.recommend(users=["ann"], k=2)) == 2
    two = movies.assign(is_new=[0, 0, 1, 1])  # set on two items: a flag a regression can use
    assert list(attribute_columns(two, ["title", "genres"])) == ["is_new"]
    assert coldkit.models.create("hybrid", encoder="hashing").fit(ratings, items=two).attributes_used_ == ["is_new"]
    # with a missing value the lone flag's item and the missing one (the present rows' mean) both speak
    assert list(attribute_columns(movies.assign(is_new=[0, np.nan, 0, 1]), ["title"])) == ["is_new"]
