"""The plugin host: registration, registries, duplicate and unknown names, broken plugins, selection."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import coldkit
from coldkit.models.neighbors import EASE
from coldkit.plugins import manager

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("fresh_plugins")  # conftest.py: a freshly loaded plugin set per test


def _fake_distribution(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write an installed-looking distribution (dist-info + modules) under ``root``."""
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[coldkit]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


GOOD_PLUGIN = """
    import coldkit

    class Echo:
        name = "echo"
        def fuse(self, sources, k, weights=None):
            return next(iter(sources.values()))

    @coldkit.hookimpl
    def coldkit_fusion_strategies():
        return [coldkit.FusionSpec("echo", "returns its first source", Echo)]
"""


def test_builtins_are_registered() -> None:
    assert {"rust", "numpy"} <= set(manager.registry("similarity_backend").names())
    assert {"weighted", "rrf"} <= set(manager.registry("fusion").names())
    assert "hashing" in manager.registry("encoder").names()


def test_in_process_plugin_is_found_and_removed() -> None:
    class Plugin:
        @coldkit.hookimpl
        def coldkit_encoders(self) -> list[coldkit.EncoderSpec]:
            return [coldkit.EncoderSpec("tiny", "hashing with 8 buckets", lambda: coldkit.get_encoder("hashing", dim=8))]

    coldkit.register_plugin(Plugin(), name="tiny-plugin")
    encoder = coldkit.get_encoder("tiny")
    assert encoder.dim == 8
    assert manager.registry("encoder").get("tiny").plugin == "tiny-plugin"
    coldkit.unregister_plugin("tiny-plugin")
    with pytest.raises(coldkit.UnknownComponentError):
        coldkit.get_encoder("tiny")


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(coldkit.UnknownComponentError) as info:
        coldkit.get_fusion("nope")
    message = str(info.value)
    assert "'nope'" in message and "rrf" in message and "weighted" in message
    with pytest.raises(LookupError):  # also a LookupError for callers who catch builtins
        coldkit.get_similarity_backend("nope")


@pytest.mark.parametrize(
    "ask", [lambda: coldkit.get_encoder(["bert"]), lambda: coldkit.get_model(["ease"]),
            lambda: coldkit.get_similarity_backend({"name": "rust"}), lambda: coldkit.get_fusion(["rrf"])],
)
def test_a_name_that_is_not_a_string_is_named(ask) -> None:  # type: ignore[no-untyped-def]
    # was "TypeError: unhashable type: 'list'", naming neither the argument nor the valid names
    with pytest.raises(coldkit.UnknownComponentError, match="names are strings, got"):
        ask()


def test_the_quantized_backends_kind_is_their_name() -> None:
    # kind= as an option was a bare TypeError: "got multiple values for argument 'kind'"
    with pytest.raises(coldkit.InvalidInputError, match="'int8' backend's kind is its name"):
        coldkit.get_similarity_backend("int8", kind="bf16")
    assert coldkit.get_similarity_backend("bf16", shortlist=10).kind == "bf16"


def test_factory_options_are_passed_through() -> None:
    fusion = coldkit.get_fusion("rrf", c=5)
    assert fusion.c == 5.0
    with pytest.raises(coldkit.InvalidInputError):
        coldkit.get_fusion("weighted", normalization="bogus")


def test_unknown_option_through_a_forwarding_factory_is_a_clear_error() -> None:
    """Plugin factories are ``def make(**options): return Encoder(**options)``: a typo was a TypeError traceback."""

    class Picky:
        name, dim, fingerprint, modalities = "picky", 4, "picky", frozenset({"text"})

        def __init__(self, *, size: int = 4) -> None:
            self.size = size

        def encode_texts(self, texts):  # pragma: no cover - never called
            raise AssertionError

    def make_picky(**options):
        return Picky(**options)

    class Broken(Picky):
        def __init__(self) -> None:
            sorted([], bogus=1)  # a bug inside the class stays a TypeError, not "bad option"

    def make_broken(**options):
        return Broken(**options)

    class Plugin:
        @coldkit.hookimpl
        def coldkit_encoders(self) -> list[coldkit.EncoderSpec]:
            return [coldkit.EncoderSpec("picky", "forwards its options", make_picky),
                    coldkit.EncoderSpec("broken", "has a bug", make_broken)]

    coldkit.register_plugin(Plugin(), name="picky-plugin")
    try:
        assert coldkit.get_encoder("picky", size=7).size == 7
        with pytest.raises(coldkit.InvalidInputError, match=r"encoder 'picky' does not take the options \['sise'\]"):
            coldkit.get_encoder("picky", sise=7)
        # the image-encoder spec of the multimodal encoder goes the same way (was a traceback in the CLI)
        with pytest.raises(coldkit.InvalidInputError, match="encoder 'image-stats' does not take the options"):
            coldkit.get_encoder("image-stats", bins=3)
        with pytest.raises(TypeError, match="bogus"):
            coldkit.get_encoder("broken")
    finally:
        coldkit.unregister_plugin("picky-plugin")


def test_duplicate_name_names_both_plugins_and_leaves_others_usable() -> None:
    def make(tag: str) -> object:
        class Plugin:
            @coldkit.hookimpl
            def coldkit_fusion_strategies(self) -> list[coldkit.FusionSpec]:
                return [coldkit.FusionSpec("dup", f"from {tag}", lambda: tag)]

        return Plugin()

    coldkit.register_plugin(make("a"), name="plugin-a")
    coldkit.register_plugin(make("b"), name="plugin-b")
    with pytest.raises(coldkit.DuplicateComponentError) as info:
        coldkit.get_fusion("dup")
    assert "plugin-a" in str(info.value) and "plugin-b" in str(info.value)
    assert coldkit.get_fusion("rrf").name == "rrf"
    report = coldkit.plugin_report()
    assert report["conflicts"]["fusion_strategies"]["dup"] == ["plugin-a", "plugin-b"]


def test_a_builtin_name_cannot_be_silently_overridden() -> None:
    class Plugin:
        @coldkit.hookimpl
        def coldkit_similarity_backends(self) -> list[coldkit.SimilarityBackendSpec]:
            return [coldkit.SimilarityBackendSpec("numpy", "impostor", lambda: None)]

    coldkit.register_plugin(Plugin(), name="impostor")
    with pytest.raises(coldkit.DuplicateComponentError, match="impostor"):
        coldkit.get_similarity_backend("numpy")


def test_hook_that_raises_becomes_a_warning() -> None:
    class Broken:
        @coldkit.hookimpl
        def coldkit_fusion_strategies(self) -> list[coldkit.FusionSpec]:
            raise RuntimeError("boom")

    coldkit.register_plugin(Broken(), name="broken-hook")
    with pytest.warns(coldkit.PluginLoadWarning, match="broken-hook.*boom"):
        names = manager.registry("fusion").names()
    assert "rrf" in names


def test_hook_returning_the_wrong_type_becomes_a_warning() -> None:
    class Wrong:
        @coldkit.hookimpl
        def coldkit_encoders(self) -> list[object]:
            return ["not a spec"]

    coldkit.register_plugin(Wrong(), name="wrong-type")
    with pytest.warns(coldkit.PluginLoadWarning, match="wrong-type.*EncoderSpec"):
        assert "hashing" in manager.registry("encoder").names()


def test_spec_validation() -> None:
    with pytest.raises(TypeError, match="name"):
        coldkit.EncoderSpec("", "no name", lambda: None)
    with pytest.raises(TypeError, match="factory"):
        coldkit.EncoderSpec("x", "not callable", "nope")  # type: ignore[arg-type]


def test_entry_point_plugins_broken_ones_warn_and_selection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(
        tmp_path,
        "fake_plugins",
        {"good": "ck_good_plugin", "broken": "ck_broken_plugin", "badhook": "ck_badhook_plugin"},
        {
            "ck_good_plugin": GOOD_PLUGIN,
            "ck_broken_plugin": "raise ImportError('missing dependency xyz')\n",
            # pluggy rejects an implementation of a hook coldkit does not define
            "ck_badhook_plugin": "import coldkit\n\n@coldkit.hookimpl\ndef coldkit_no_such_hook():\n    return []\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fusion = coldkit.get_fusion("echo")
    assert fusion.name == "echo"
    messages = [str(w.message) for w in caught if issubclass(w.category, coldkit.PluginLoadWarning)]
    assert any("'broken'" in m and "missing dependency xyz" in m for m in messages), messages
    assert any("'badhook'" in m for m in messages), messages
    report = coldkit.plugin_report()
    good = next(p for p in report["plugins"] if p["name"] == "good")
    assert good["package"] == "fake_plugins" and good["version"] == "0.1"
    assert [f["name"] for f in good["fusion_strategies"]] == ["echo"]
    assert {e["plugin"] for e in report["errors"]} == {"broken", "badhook"}

    # COLDKIT_LOAD_PLUGINS selects which installed plugins load (built-ins always do).
    monkeypatch.setenv(manager.LOAD_PLUGINS_ENV, "broken")
    manager.reset_plugins()
    with pytest.warns(coldkit.PluginLoadWarning):
        with pytest.raises(coldkit.UnknownComponentError):
            coldkit.get_fusion("echo")
    monkeypatch.setenv(manager.LOAD_PLUGINS_ENV, "")
    manager.reset_plugins()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing installed is even imported
        assert "weighted" in manager.registry("fusion").names()
        assert "echo" not in manager.registry("fusion").names()
    # a selected name that is not installed (a typo: "goood") loaded nothing without a word
    monkeypatch.setenv(manager.LOAD_PLUGINS_ENV, "goood")
    manager.reset_plugins()
    with pytest.warns(coldkit.PluginLoadWarning, match=r"'goood': named in \$COLDKIT_LOAD_PLUGINS but not installed.*good"):
        assert "echo" not in manager.registry("fusion").names()
    assert [e["plugin"] for e in coldkit.plugin_report()["errors"]] == ["goood"]


def _run_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120)


def test_plugins_command_prints_json_and_never_imports_torch() -> None:
    probe = (
        "import sys, json, io, contextlib\n"
        "from coldkit.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    main(['plugins'])\n"
        "report = json.loads(buf.getvalue())\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules)\n"
        "print(json.dumps({'heavy': heavy, 'n': len(report['plugins'])}))\n"
    )
    result = _run_cli("-c", probe)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["heavy"] == [], f"listing plugins imported {out['heavy']}"
    assert out["n"] >= 3

    module_run = _run_cli("-m", "coldkit", "plugins", "--indent", "0")
    assert module_run.returncode == 0, module_run.stderr
    report = json.loads(module_run.stdout)
    builtin = {p["name"] for p in report["plugins"] if p["builtin"]}
    assert builtin == set(manager.DEFAULT_PLUGINS)


def test_in_process_plugin_with_a_misspelt_hook_is_refused() -> None:
    class Misspelt:
        @coldkit.hookimpl
        def coldkit_encoder(self) -> list[coldkit.EncoderSpec]:  # missing "s"
            return []

    import pluggy

    with pytest.raises(pluggy.PluginValidationError, match="coldkit_encoder"):
        coldkit.register_plugin(Misspelt(), name="misspelt")
    assert manager.get_plugin_manager().get_plugin("misspelt") is None


def test_a_plugin_whose_hooks_lack_the_decorator_is_refused_naming_it() -> None:
    # pluggy reads an undecorated hook as an ordinary method: the plugin was listed with no component, nothing said
    import pluggy

    class Undecorated:
        def coldkit_models(self) -> list[coldkit.ModelSpec]:
            return []

    with pytest.raises(pluggy.PluginValidationError, match=r"registers no component: coldkit_models lack\(s\) the @coldkit.hookimpl decorator"):
        coldkit.register_plugin(Undecorated(), name="undecorated")
    assert manager.get_plugin_manager().get_plugin("undecorated") is None
    with pytest.raises(pluggy.PluginValidationError, match=r"registers no component: it implements none of coldkit's hooks"):
        coldkit.register_plugin(object(), name="empty")


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (None, r"coldkit_fusion_strategies\(\) returned None; it must return a list of FusionSpec"),
        (coldkit.FusionSpec("lone", "one spec, not a list", lambda: None), r"got one FusionSpec; wrap it in a list"),
    ],
)
def test_a_hook_returning_none_or_a_bare_spec_is_a_warning(returned: object, message: str) -> None:
    # None (a forgotten ``return``) registered nothing without a word; a bare spec was
    # "'FusionSpec' object is not iterable"
    class Forgetful:
        @coldkit.hookimpl
        def coldkit_fusion_strategies(self) -> object:
            return returned

    coldkit.register_plugin(Forgetful(), name="forgetful")
    with pytest.warns(coldkit.PluginLoadWarning, match=message):
        names = manager.registry("fusion").names()
    assert "rrf" in names and "lone" not in names
    assert any("forgetful" in e["plugin"] for e in coldkit.plugin_report()["errors"])


class _NoFingerprint:
    """An encoder without ``fingerprint`` (the cache keys vectors by it)."""

    name = "no-fingerprint"
    dim = 4

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return np.full((len(texts), 4), 0.5, dtype=np.float32)


def test_a_factory_that_builds_the_wrong_thing_is_named_with_its_plugin() -> None:
    # each was an AttributeError ("'NoneType' object has no attribute 'topk'") far inside coldkit
    class Sloppy:
        @coldkit.hookimpl
        def coldkit_encoders(self) -> list[coldkit.EncoderSpec]:
            return [coldkit.EncoderSpec("no-fingerprint", "lacks fingerprint", _NoFingerprint, {"text"}),
                    coldkit.EncoderSpec("class-not-instance", "returns the class", lambda: _NoFingerprint, {"text"})]  # fmt: skip

        @coldkit.hookimpl
        def coldkit_fusion_strategies(self) -> list[coldkit.FusionSpec]:
            return [coldkit.FusionSpec("none-fusion", "returns None", lambda: None)]

        @coldkit.hookimpl
        def coldkit_similarity_backends(self) -> list[coldkit.SimilarityBackendSpec]:
            return [coldkit.SimilarityBackendSpec("none-backend", "returns None", lambda: None, {"dot"})]

    coldkit.register_plugin(Sloppy(), name="sloppy")
    with pytest.raises(coldkit.InvalidInputError, match=r"encoder 'no-fingerprint' \(plugin 'sloppy'\).* without fingerprint"):
        coldkit.get_encoder("no-fingerprint")
    with pytest.raises(coldkit.InvalidInputError, match=r"encoder 'class-not-instance' \(plugin 'sloppy'\).*a class, not an instance"):
        coldkit.get_encoder("class-not-instance")
    with pytest.raises(coldkit.InvalidInputError, match=r"fusion 'none-fusion' \(plugin 'sloppy'\).*NoneType without fuse"):
        coldkit.get_model("hybrid", encoder="hashing", fusion="none-fusion")
    with pytest.raises(coldkit.InvalidInputError, match=r"similarity backend 'none-backend' \(plugin 'sloppy'\).*without topk"):
        coldkit.topk(np.ones((1, 3)), np.ones((4, 3)), 2, metric="dot", backend="none-backend")
    # every built-in component passes the same check
    for kind in ("encoder", "similarity_backend", "fusion", "reranker"):
        for name in manager.registry(kind).names():
            if manager.registry(kind).get(name).plugin in manager.DEFAULT_PLUGINS and name != "precomputed":
                getattr(manager, f"get_{kind}" if kind != "similarity_backend" else "get_similarity_backend")(name)


def test_an_unknown_name_mentions_plugins_that_did_not_load(monkeypatch: pytest.MonkeyPatch) -> None:
    # the name may be a broken or deselected plugin's: the error listed the available names only
    class Broken:
        @coldkit.hookimpl
        def coldkit_models(self) -> list[coldkit.ModelSpec]:
            raise ImportError("no module named 'lightgbm'")

    coldkit.register_plugin(Broken(), name="broken-models")
    with pytest.warns(coldkit.PluginLoadWarning):
        with pytest.raises(coldkit.UnknownComponentError, match=r"unknown model 'gbdt'; available: .*plugin\(s\) that failed to load: broken-models"):
            coldkit.get_model("gbdt")
    manager.reset_plugins()
    monkeypatch.setenv(manager.LOAD_PLUGINS_ENV, "")
    with pytest.raises(coldkit.UnknownComponentError, match=r"\$COLDKIT_LOAD_PLUGINS='' limits the installed plugins loaded"):
        coldkit.get_fusion("no-such-fusion")
    monkeypatch.delenv(manager.LOAD_PLUGINS_ENV)
    manager.reset_plugins()
    with pytest.raises(coldkit.UnknownComponentError) as info:
        coldkit.get_fusion("no-such-fusion")
    assert "failed to load" not in str(info.value) and "LOAD_PLUGINS" not in str(info.value)


def test_two_packages_with_one_entry_point_name_warn_instead_of_dropping_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the second package's components vanished without a word (the check was meant for one
    # package seen twice on sys.path, which stays quiet)
    other = GOOD_PLUGIN.replace('"echo"', '"echo-two"').replace("class Echo", "class EchoTwo").replace(", Echo)", ", EchoTwo)")
    _fake_distribution(tmp_path / "a", "first_pkg", {"shared": "ck_shared_one"}, {"ck_shared_one": GOOD_PLUGIN})
    _fake_distribution(tmp_path / "b", "second_pkg", {"shared": "ck_shared_two"}, {"ck_shared_two": other})
    _fake_distribution(tmp_path / "c", "first_pkg", {"shared": "ck_shared_one"}, {})  # the same package again
    for sub in ("c", "b", "a"):
        monkeypatch.syspath_prepend(str(tmp_path / sub))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert coldkit.get_fusion("echo").name == "echo"
    messages = [str(w.message) for w in caught if issubclass(w.category, coldkit.PluginLoadWarning)]
    assert len(messages) == 1, messages
    assert "entry point of 'second_pkg' not loaded" in messages[0] and "'first_pkg' already registered the plugin name 'shared'" in messages[0]
    assert "echo-two" not in manager.registry("fusion").names()


@pytest.mark.parametrize("name", ["my model", "gbdt:fast", "a,b", "k=v", "x[1]", "-dash", "tab\there"])
def test_a_spec_name_that_cannot_be_typed_is_refused(name: str) -> None:
    # registered, listed by `coldkit plugins`, and then impossible to choose: `--models gbdt:fast`
    # read option 'fast' of model 'gbdt', and 'my model' was two list items
    with pytest.raises(TypeError, match="cannot be typed on the command line"):
        coldkit.ModelSpec(name, "unusable name", lambda: None)
    for fine in ("faiss-hnsw", "dp_hybrid", "v1.2", "modèle"):
        assert coldkit.ModelSpec(fine, "fine", lambda: None).name == fine


@pytest.mark.parametrize(("capabilities", "message"), [
    ("cold-users", r"capabilities must be a set of tags, got the string 'cold-users'; write \{'cold-users'\}"),
    (None, r"capabilities must be a set of tags, got None"),
    ({1, 2}, r"capabilities must be strings"),
])
def test_capabilities_that_are_not_a_set_of_tags_are_refused(capabilities: object, message: str) -> None:
    # capabilities="cold-users" became {'c', 'o', 'l', ...}: the model silently had none of its capabilities
    with pytest.raises(TypeError, match=message):
        coldkit.ModelSpec("covisit", "co-visitation", lambda: None, capabilities)  # type: ignore[arg-type]
    assert coldkit.ModelSpec("covisit", "ok", lambda: None, ["cold-users", "text"]).capabilities == {"cold-users", "text"}


def test_the_cli_shows_a_plugin_that_failed_to_load_as_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the command line printed Python's warning format: "/path/manager.py:128: PluginLoadWarning: ..."
    # and then the source line `warnings.warn(message, ...)`, as if coldkit had a bug at that line
    from coldkit.cli import main

    _fake_distribution(tmp_path / "site", "fake_plugins", {"broken": "ck_broken_plugin"},
                       {"ck_broken_plugin": "raise ImportError('missing dependency xyz')\n"})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (tmp_path / "items.csv").write_text("item_id,title\na,Space robots\nb,Paris love story\nc,Whales\n", encoding="utf-8")
    (tmp_path / "train.csv").write_text("user_id,item_id\nu1,a\nu2,b\nu2,a\n", encoding="utf-8")
    argv = ["recommend", "--interactions", str(tmp_path / "train.csv"), "--items", str(tmp_path / "items.csv"),
            "--model", "popularity", "--k", "1", "--out", str(tmp_path / "recs.csv"), "--no-progress"]

    def interpreter_display(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        # what Python does with a warning outside pytest (which records them instead)
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    monkeypatch.setattr(warnings, "showwarning", interpreter_display)
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # shown, not raised (this suite turns warnings into errors)
        assert main(argv) == 0
    stderr = capsys.readouterr().err
    lines = [line for line in stderr.splitlines() if "broken" in line]
    assert lines == [
        "coldkit recommend: warning: coldkit plugin 'broken': import of 'ck_broken_plugin' failed: ImportError: missing dependency xyz"
    ], stderr
    assert "PluginLoadWarning" not in stderr and "warnings.warn(" not in stderr
    assert warnings.showwarning is interpreter_display  # the command put the display back
    # the library still warns: a Python caller filters or records it as a real warning
    manager.reset_plugins()
    with pytest.warns(coldkit.PluginLoadWarning, match="'broken'.*missing dependency xyz"):
        coldkit.get_fusion("weighted")


def test_every_coldkit_warning_is_one_line_in_the_cli_and_others_keep_their_format() -> None:
    from coldkit.cli import _OneLineWarnings
    from coldkit.exceptions import CacheWarning, ColdkitWarning, DataWarning

    formatted: list[tuple[str, type[Warning]]] = []
    display = _OneLineWarnings(lambda message, category, *rest: formatted.append((str(message), category)) or "python's format\n")
    display.label = "coldkit evaluate"
    texts = [
        display(category("vector cache: ignoring corrupt shard\n'x.npy'"), category, "/site/coldkit/encoding.py", 392)
        for category in (CacheWarning, DataWarning, ColdkitWarning, coldkit.PluginLoadWarning)
    ]
    assert texts == ["coldkit evaluate: warning: vector cache: ignoring corrupt shard 'x.npy'\n"] * 4
    # not coldkit's: Python's format
    assert display(UserWarning("a third party's"), UserWarning, "/site/other.py", 1) == "python's format\n"
    assert formatted == [("a third party's", UserWarning)]
    assert issubclass(CacheWarning, UserWarning) and issubclass(coldkit.PluginLoadWarning, coldkit.ColdkitWarning)


def test_the_cli_formats_warnings_and_leaves_displaying_and_recording_to_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # main() replaced warnings.showwarning: a caller's catch_warnings(record=True) around it saw nothing
    from coldkit.cli import main

    _fake_distribution(tmp_path / "site", "fake_plugins", {"broken": "ck_broken_plugin"},
                       {"ck_broken_plugin": "raise ImportError('missing dependency xyz')\n"})  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (tmp_path / "items.csv").write_text("item_id,title\na,Space robots\nb,Paris love story\nc,Whales\n", encoding="utf-8")
    (tmp_path / "train.csv").write_text("user_id,item_id\nu1,a\nu2,b\nu2,a\n", encoding="utf-8")
    argv = ["recommend", "--interactions", str(tmp_path / "train.csv"), "--items", str(tmp_path / "items.csv"),
            "--model", "popularity", "--k", "1", "--out", str(tmp_path / "recs.csv"), "--no-progress"]  # fmt: skip
    manager.reset_plugins()
    before = warnings.formatwarning
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        assert main(argv) == 0
    assert [w.category for w in recorded if "broken" in str(w.message)] == [coldkit.PluginLoadWarning]
    assert "broken" not in capsys.readouterr().err
    assert warnings.formatwarning is before  # the command put the formatter back


def test_plugins_indent_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """json.dumps takes indent=-1 without a word (newlines, no indentation)."""
    from coldkit.cli import main

    assert main(["plugins", "--indent", "-1"]) == 2
    assert "--indent must be 0..16" in capsys.readouterr().err
    assert main(["plugins", "--indent", "0"]) == 0
    assert "\n" not in capsys.readouterr().out.strip()


def test_a_plugin_made_for_a_newer_coldkit_says_which_coldkit_it_asks_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its import failed as "cannot import name 'x' from 'coldkit.models'" alone: read as a bug, not a version."""
    _fake_distribution(
        tmp_path, "ck_future", {"future": "ck_future_plugin", "other": "ck_other_broken"},
        {"ck_future_plugin": "from coldkit.models import a_model_of_coldkit_9\n", "ck_other_broken": "import not_installed_dep_xyz\n"},
    )  # fmt: skip
    metadata = tmp_path / "ck_future-0.1.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text() + "Requires-Dist: coldkit-bert>=1\nRequires-Dist: coldkit[rank]>=9.0\nRequires-Dist: numpy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    manager.reset_plugins()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manager.registry("fusion").names()
    messages = {m.split("'")[1]: m for m in (str(w.message) for w in caught if issubclass(w.category, coldkit.PluginLoadWarning))}
    assert "a_model_of_coldkit_9" in messages["future"]
    assert f"the package 'ck_future' 0.1 asks for coldkit >=9.0; this is coldkit {coldkit.__version__}: upgrade coldkit" in messages["future"]
    # a missing third-party module is not coldkit's version: no such hint
    assert "not_installed_dep_xyz" in messages["other"] and "asks for coldkit" not in messages["other"]
    assert "newer coldkit" not in messages["other"]


def _annotated_ease(**options: Any) -> EASE:
    """A forwarding factory whose return annotation names the class (resolved in this module's globals)."""
    return EASE(**options)


def test_a_forwarding_model_factory_is_read_through_its_return_annotation_or_lazy_factory() -> None:
    """coldkit reads a model's options from its factory: one that forwards **options hid the class (``--encoder``
    said to have "no effect", "it takes no options" for a misspelt one). A return annotation or
    ``coldkit.plugins.lazy_factory`` names the class; a bare forwarding function still hides it."""
    from coldkit.models.registry import model_accepts, model_defaults

    def bare(**options: Any) -> Any:
        return EASE(**options)

    class _Models:
        @coldkit.hookimpl
        def coldkit_models(self) -> list[coldkit.ModelSpec]:
            return [
                coldkit.ModelSpec(name="fwd-annotated", description="x", factory=_annotated_ease),
                coldkit.ModelSpec(name="fwd-lazy", description="x", factory=coldkit.plugins.lazy_factory("coldkit.models.neighbors:EASE")),
                coldkit.ModelSpec(name="fwd-bare", description="x", factory=bare),
            ]

    plugin = _Models()
    coldkit.register_plugin(plugin, name="forwarding-factories")
    try:
        wanted = model_defaults("ease")
        assert wanted, "ease takes options"
        option = next(iter(wanted))
        for name in ("fwd-annotated", "fwd-lazy"):
            assert model_defaults(name) == wanted and model_accepts(name, option), name
        assert model_defaults("fwd-bare") == {} and not model_accepts("fwd-bare", option)
    finally:
        coldkit.unregister_plugin("forwarding-factories")
    with pytest.raises(coldkit.InvalidInputError, match="package.module:Class"):
        coldkit.plugins.lazy_factory("no_colon")


def test_a_second_bert_makes_the_default_encoder_an_error_not_hashing() -> None:
    """Two plugins registering "bert" left the name ambiguous, and the default encoder fell back to hashing
    without a word: every run without --encoder ranked with it."""
    from coldkit.exceptions import DuplicateComponentError
    from coldkit.models.registry import default_encoder_name

    before = default_encoder_name()

    class Second:
        @coldkit.hookimpl
        def coldkit_encoders(self) -> list[coldkit.EncoderSpec]:
            return [coldkit.EncoderSpec("bert", "another bert", lambda: coldkit.get_encoder("hashing"))]

    class Twice:
        @coldkit.hookimpl
        def coldkit_models(self) -> list[coldkit.ModelSpec]:
            popularity = coldkit.plugins.lazy_factory("coldkit.models.popularity:Popularity")
            return [coldkit.ModelSpec("twice-pop", "x", popularity), coldkit.ModelSpec("twice-pop", "y", popularity)]

    class Third(Second):
        pass

    # two more plugins claim the name (beside coldkit-bert where it is installed)
    coldkit.register_plugin(Second(), name="second-bert")
    coldkit.register_plugin(Third(), name="third-bert")
    try:
        with pytest.raises(DuplicateComponentError, match="encoder 'bert' is registered by more than one plugin: .*'second-bert' and 'third-bert'"):
            default_encoder_name()
    finally:
        coldkit.unregister_plugin("second-bert")
        coldkit.unregister_plugin("third-bert")
    assert default_encoder_name() == before
    coldkit.register_plugin(Twice(), name="twice")
    try:
        with pytest.raises(DuplicateComponentError, match="model 'twice-pop' is registered 2 times by plugin 'twice'"):
            coldkit.plugins.registry("model").get("twice-pop")
    finally:
        coldkit.unregister_plugin("twice")


def test_a_name_with_options_where_a_name_alone_is_wanted_says_so() -> None:
    # "--encoder bert:precision=fp32" was "unknown encoder 'bert:precision=fp32'", as if a plugin were missing
    with pytest.raises(coldkit.UnknownComponentError, match=r"'hashing:dim=64' is encoder 'hashing' with options \(dim=64\): give the name alone"):
        coldkit.get_encoder("hashing:dim=64")
    with pytest.raises(coldkit.UnknownComponentError) as plain:
        coldkit.get_encoder("nosuch:dim=64")
    assert "with options" not in str(plain.value)


def test_help_still_prints_when_the_default_encoder_is_ambiguous() -> None:
    from coldkit.commands.evaluate import models_help

    class Other:
        @coldkit.hookimpl
        def coldkit_encoders(self) -> list[coldkit.EncoderSpec]:
            return [coldkit.EncoderSpec("bert", "a bert of another plugin", lambda: coldkit.get_encoder("hashing"))]

    coldkit.register_plugin(Other(), name="other-bert-a")
    coldkit.register_plugin(Other(), name="other-bert-b")
    try:
        assert "default set: the default encoder is ambiguous (encoder 'bert' is registered by more than one plugin" in models_help()
    finally:
        coldkit.unregister_plugin("other-bert-a")
        coldkit.unregister_plugin("other-bert-b")


def _typed_factory(encoder: str = "hashing", text_weight: float = 1.0) -> "coldkit.models.Recommender":
    """A factory with its own options, typed with the base class: read by its own signature."""
    from coldkit.models.content import ContentRecommender

    return ContentRecommender(encoder=encoder, text_weight=text_weight)


def test_a_factory_with_its_own_options_is_read_by_its_signature_whatever_it_returns() -> None:
    from coldkit.models.registry import model_accepts, model_defaults

    class _Typed:
        @coldkit.hookimpl
        def coldkit_models(self) -> list[coldkit.ModelSpec]:
            return [coldkit.ModelSpec(name="typed-factory", description="x", factory=_typed_factory)]

    coldkit.register_plugin(_Typed(), name="typed-factory")
    try:
        assert model_defaults("typed-factory") == {"encoder": "hashing", "text_weight": 1.0}
        assert model_accepts("typed-factory", "encoder")
    finally:
        coldkit.unregister_plugin("typed-factory")


def test_evaluate_runs_models_that_read_no_text_when_the_default_encoder_is_ambiguous(tmp_path: Path) -> None:
    from coldkit.cli import main
    from coldkit.exceptions import DuplicateComponentError

    class Other:
        @coldkit.hookimpl
        def coldkit_encoders(self) -> list[coldkit.EncoderSpec]:
            return [coldkit.EncoderSpec("bert", "a bert of another plugin", lambda: coldkit.get_encoder("hashing"))]

    folder = tmp_path / "movies"
    folder.mkdir()
    rng = np.random.default_rng(0)
    movies = ["movieId,title,genres"] + [f"{i},story {i},{'Western' if i % 2 else 'Horror'}" for i in range(200)]
    ratings = ["userId,movieId,rating,timestamp"] + [
        f"{u},{i},4,{rng.integers(10**8, 10**9)}" for u in range(40) for i in rng.choice(range(u % 2, 200, 2), 20, replace=False)]
    (folder / "movies.csv").write_text("\n".join(movies) + "\n", encoding="utf-8")
    (folder / "ratings.csv").write_text("\n".join(ratings) + "\n", encoding="utf-8")
    coldkit.register_plugin(Other(), name="other-bert-a")
    coldkit.register_plugin(Other(), name="other-bert-b")
    try:
        args = ["evaluate", "--data", str(folder), "--models", "popularity", "--out", str(tmp_path / "o"), "--no-progress", "--no-chart"]
        assert main(args) == 0
        with pytest.raises(DuplicateComponentError, match="encoder 'bert' is registered by more than one plugin"):
            coldkit.models.create("hybrid")
    finally:
        coldkit.unregister_plugin("other-bert-a")
        coldkit.unregister_plugin("other-bert-b")
