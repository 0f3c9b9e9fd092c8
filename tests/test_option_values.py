"""Option values a third new-user review found accepted where they should be refused, or refused in Python's
words instead of the option's: each now a clear InvalidInputError at construction, naming the option."""

from __future__ import annotations

import re
from typing import Any

import pytest

import coldkit
from coldkit.exceptions import InvalidInputError
from coldkit.models import create


@pytest.mark.parametrize(
    "options, message",
    [
        ({"threads": -2}, "warm_options: threads must be >= 1, got -2"),  # aborted the process inside libgomp
        ({"iterations": 0}, "warm_options: iterations must be >= 1, got 0"),  # untrained factors, rc 0
        ({"iterations": 2.7}, "warm_options: iterations must be an integer, got float 2.7"),
        ({"iterations": "5"}, "warm_options: iterations must be an integer, got str '5'"),
        ({"alpha": -10}, "warm_options: alpha must be > 0, got -10"),
        ({"alpha": float("nan")}, "warm_options: alpha must be a finite number, got nan"),  # a traceback after the fit
        ({"regularization": -1}, "warm_options: regularization must be >= 0, got -1"),
        ({"seed": -1}, "warm_options: seed must be an integer >= 0, got -1"),
    ],
)
@pytest.mark.parametrize("warm", ["als", "auto"])
def test_als_warm_option_values_are_checked_at_construction(options: dict[str, Any], message: str, warm: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        create("cold-ridge", warm=warm, warm_options=options, encoder="hashing")
    create("cold-ridge", warm=warm, warm_options={"iterations": 5, "alpha": 2.0, "threads": None}, encoder="hashing")


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("cold-ridge", {"factors": 2.7}, "factors must be an integer, got float 2.7"),  # ran with 2 factors
        ("cold-ridge", {"factors": "16"}, "factors must be an integer, got str '16'"),
        ("cold-ridge", {"factors": float("nan")}, "factors must be an integer"),
        ("cold-knn", {"neighbors": 2.5}, "neighbors must be an integer, got float 2.5"),
        ("cold-knn", {"pool": "10"}, "pool must be an integer, got str '10'"),
        ("content", {"whitening": "whiten", "whitening_dim": 2.5}, "whitening_dim must be an integer, got float 2.5"),
        # accepted and ignored: the lists were the defaults'
        ("content", {"whitening_dim": 8}, "whitening_dim=8 keeps principal axes, which only whitening='whiten' computes (got 'center')"),
        ("cold-ridge", {"bandwidth": 1.0}, "bandwidth=1.0 is the rbf kernel's width; the linear map takes none (kernel='rbf' to use it)"),
        ("popularity-genre", {"global_weight": float("nan")}, "global_weight must be a finite number, got nan"),
        ("popularity-genre", {"global_weight": "0.1"}, "global_weight must be a number, got str '0.1'"),
        ("popularity-genre", {"global_weight": True}, "global_weight must be a number, got bool True"),
        ("router", {"hybrid_options": {"bogus": 1}}, "router: hybrid_options ['bogus'] are not options of the hybrid; it takes adapter_l2"),
        ("router", {"hybrid_options": "x"}, "router: hybrid_options must be a mapping of option name -> value"),
    ],
)
def test_model_option_values_are_refused_naming_the_option(name: str, options: dict[str, Any], message: str) -> None:
    if name in ("cold-ridge", "cold-knn", "content"):
        options = {"encoder": "hashing", **options}
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        create(name, **options)


def test_the_values_those_checks_accept_still_build() -> None:
    create("cold-ridge", kernel="rbf", bandwidth=1.0, encoder="hashing")
    create("content", whitening="whiten", whitening_dim=8, encoder="hashing")
    create("cold-knn", neighbors=5, pool=10, encoder="hashing")
    create("popularity-genre", global_weight=0.2)
    create("router", hybrid_options={"depth": 50})


def test_lightfm_seed_outside_its_range_is_refused_at_construction() -> None:
    pytest.importorskip("lightfm")
    with pytest.raises(InvalidInputError, match=re.escape("lightfm: seed must be an integer in [0, 2**32), got -1")):
        create("lightfm", seed=-1, encoder="hashing")  # was LightFM's ValueError traceback at fit


def test_published_models_refuse_a_learning_rate_that_diverges() -> None:
    pytest.importorskip("torch")
    with pytest.raises(InvalidInputError, match=re.escape("dropoutnet: lr must be in (0, 1], got 10000000000.0")):
        create("dropoutnet", encoder="hashing", lr=1e10)  # trained to scores of 2e23 without a note


def test_torch_threads_beyond_the_machine_are_refused_before_torch_is_told() -> None:
    torch = pytest.importorskip("torch")
    from coldkit.encoding_torch import MAX_THREADS_PER_CPU, available_cpus, configure_threads

    before = torch.get_num_threads()
    too_many = MAX_THREADS_PER_CPU * available_cpus() + 1
    with pytest.raises(InvalidInputError, match=f"threads={too_many} is more than {MAX_THREADS_PER_CPU} per CPU"):
        configure_threads(too_many)  # 10**6 left torch's process-wide count there after a bare MemoryError
    assert torch.get_num_threads() == before


def test_max_length_must_leave_room_for_the_text_after_the_special_tokens() -> None:
    pytest.importorskip("torch")
    from coldkit.encoding_torch import TorchTextEncoder

    class Tokenizer:  # what BERT's tokenizer says of its [CLS] and [SEP]
        def num_special_tokens_to_add(self) -> int:
            return 2

    with pytest.raises(InvalidInputError, match=re.escape("max_length=2 leaves no token for the text: the tokenizer adds 2 of its own; give at least 3")):
        TorchTextEncoder.check_max_length(2, 512, Tokenizer())
    assert TorchTextEncoder.check_max_length(3, 512, Tokenizer()) == 3
    assert TorchTextEncoder.check_max_length(2, 512) == 2  # a tokenizer that adds none (GPT-2)


def test_int8_on_a_model_without_linear_layers_is_refused() -> None:
    torch = pytest.importorskip("torch")
    from coldkit.encoding_torch import apply_precision

    class Conv1DOnly(torch.nn.Module):  # GPT-2's projections are transformers' Conv1D, not nn.Linear
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(4, 4))

    with pytest.raises(InvalidInputError, match=re.escape("precision='int8' quantises the model's nn.Linear layers and Conv1DOnly has none")):
        apply_precision(Conv1DOnly(), "int8")  # the vectors were fp32's under another cache key
    quantised = apply_precision(torch.nn.Sequential(torch.nn.Linear(4, 4)), "int8")
    assert not isinstance(quantised[0], torch.nn.Linear)


def test_a_plugin_factory_names_only_the_options_it_does_not_take_and_the_ones_it_needs() -> None:
    from coldkit.plugins.manager import _construct

    class Encoder:
        def __init__(self, model: str, *, dim: int = 8) -> None:
            self.model, self.dim = model, dim

    def make(**options: Any) -> Encoder:  # how every plugin's factory forwards its options
        return Encoder(**options)

    with pytest.raises(InvalidInputError, match=re.escape("encoder 'toy' does not take the options ['bogus']:")):
        _construct("encoder", "toy", make, {"model": "here", "bogus": 1})  # 'model' was named as not taken too
    with pytest.raises(InvalidInputError, match=re.escape("encoder 'toy' needs the option(s) ['model'] (model=: a local model folder)")):
        _construct("encoder", "toy", make, {})  # was a bare TypeError (get_encoder("clap"))
    assert _construct("encoder", "toy", make, {"model": "here"}).model == "here"
    assert coldkit.get_encoder("hashing") is not None
