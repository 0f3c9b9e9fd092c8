"""Private-mode inputs a fifth new-user review found ignored or misnamed: each now refused, naming what is wrong."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from coldkit.cli import main
from coldkit.exceptions import InvalidInputError


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    items = [f"i{i}" for i in range(30)]
    (tmp_path / "items.csv").write_text(
        "item_id,title\n" + "".join(f"{i},{w} film\n" for i, w in zip(items, rng.choice(["space", "love", "war"], 30))), encoding="utf-8"
    )
    rows = {(f"u{u}", items[i]) for u in range(40) for i in rng.choice(30, 6, replace=False)}
    (tmp_path / "train.csv").write_text("user_id,item_id\n" + "".join(f"{u},{i}\n" for u, i in sorted(rows)), encoding="utf-8")
    (tmp_path / "graph.csv").write_text("user_id,friend_id\nnew,u1\nnew,u2\n", encoding="utf-8")
    (tmp_path / "users.txt").write_text("new\nu1\n", encoding="utf-8")
    return {"items": tmp_path / "items.csv", "train": tmp_path / "train.csv", "graph": tmp_path / "graph.csv",
            "users": tmp_path / "users.txt", "out": tmp_path / "recs.csv"}


def run(files: dict[str, Path], *extra: str) -> int:
    return main(["recommend", "--interactions", str(files["train"]), "--items", str(files["items"]), "--encoder", "hashing",
                 "--out", str(files["out"]), "--no-progress", *extra])


def test_a_private_model_refuses_a_social_graph_it_would_not_use(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # dp-hybrid accepted --user-graph and learnt nothing from it: the lists were those of a run without it
    assert run(files, "--users", str(files["users"]), "--user-graph", str(files["graph"]), "--dp-epsilon", "1") == 2
    assert "--user-graph: the private model 'dp-hybrid' does not use a social graph" in capsys.readouterr().err
    assert not files["out"].exists()


def test_delta_on_the_command_line_with_epsilon_as_an_option_is_named_as_such(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # "dp_delta (--dp-delta) needs dp_epsilon (--dp-epsilon) too" read as if no ε had been given
    assert run(files, "--model", "dp-hybrid", "--option", "dp_epsilon=1", "--dp-delta", "1e-4") == 2
    err = capsys.readouterr().err
    assert "dp_delta (--dp-delta) and --option dp_epsilon=... give the budget in two places" in err


def test_a_published_private_model_names_the_smallest_epsilon_it_can_use(files: dict[str, Path]) -> None:
    """At ε = 1e-4 (within the accountant's documented minimum) the release's share converted to ε = 0 and the
    error said "dp_epsilon must be > 0, got 0.0", an ε the user never gave."""
    pytest.importorskip("torch")
    from coldkit.data.loaders import load_interactions, load_items
    from coldkit.models import create

    train = load_interactions(files["train"], load_items(files["items"]))
    model = create("dp-dropoutnet", dp_epsilon=1e-4, encoder="hashing", cache=False, epochs=1)
    with pytest.raises(InvalidInputError, match=r"dp-dropoutnet: dp_epsilon=0.0001 is too small for this model: .* give dp_epsilon >= (\S+)") as info:
        model.fit(train)
    lowest = float(re.search(r"give dp_epsilon >= (\S+)", str(info.value)).group(1))  # type: ignore[union-attr]
    create("dp-dropoutnet", dp_epsilon=lowest * 1.05, encoder="hashing", cache=False, epochs=1).fit(train)  # it fits there


def test_a_media_path_with_a_nul_character_is_named_for_it() -> None:
    from coldkit.models.modalities import _outside_root

    # it was refused, and blamed on a symbolic link that is not there
    assert _outside_root("1.png\x00x", "/media") == "path '1.png\\x00x' holds a NUL character, which no file name can"
    assert "is outside the media root" in _outside_root("../x.png", "/media")
