"""Models by name: the one place where a recommender is built from a name and options.

Every model, built-in or from a plugin, comes from the ``coldkit_models`` hook registry. The CLI,
evaluation and serving all go through :func:`build_model`, so a plugin's model works wherever a
built-in one does.
"""

from __future__ import annotations

import difflib
import inspect
import json
import re
from typing import Any, Callable

from coldkit.exceptions import ColdkitError, InvalidInputError
from coldkit.models.base import Recommender
from coldkit.plugins.manager import registry

__all__ = ["ModelOptionError", "build_model", "model_names", "model_descriptions", "model_accepts",
           "model_defaults", "model_requires", "default_encoder_name", "parse_option_value"]


class ModelOptionError(InvalidInputError, TypeError):
    """A model got an option it does not take, or lacks a required one.

    A user error (``coldkit recommend --option``/``evaluate --models`` print it as one line, not a
    traceback), and still a ``TypeError`` for callers that catch what ``create`` used to raise.
    """


def model_names() -> list[str]:
    """Every registered model name, sorted."""
    return sorted(registry("model").names())


def model_descriptions() -> dict[str, str]:
    """Name -> one-line description of every registered model."""
    return {spec.name: spec.description for spec in sorted(registry("model").specs(), key=lambda s: s.name)}


def build_model(name: str, **options: Any) -> Recommender:
    """Build the model registered as ``name`` with keyword ``options`` (unfitted); this is ``coldkit.get_model``.

    It lives here, not beside ``get_encoder`` in the plugin host, because models sit above the
    plugin host: the host never imports the model layer.

    Raises:
        UnknownComponentError: ``name`` is not a model (the message lists the valid names).
        InvalidInputError: an option has a bad value.
        ModelOptionError: an option the model does not take, or a required one missing (an
            ``InvalidInputError`` and a ``TypeError``).
    """
    spec = registry("model").get(name)
    backend = options.pop("backend", None)  # every model takes it: applied after construction
    try:
        model = spec.factory(**options)
    except ColdkitError:
        raise
    except (TypeError, ValueError) as exc:
        message = str(exc)
        if "unexpected keyword" in message:
            # name what it does take: "Hybrid.__init__() got an unexpected keyword argument" alone
            # sends a command-line user to the source
            wrong = re.search(r"unexpected keyword argument '([^']+)'", message)
            raise ModelOptionError(f"model {name!r}: {exc}{_options_hint(name, wrong.group(1) if wrong else None)}") from exc
        if "required" in message and "argument" in message:
            raise ModelOptionError(f"model {name!r}: {exc}") from exc
        if not options:  # no option to blame: a bug in the model, not the user's input
            raise
        # a constructor only stores its options, so a TypeError/ValueError there is an option value
        # it cannot use (e.g. whitening_dim="abc" from the command line)
        given = ", ".join(f"{key}={_short(value)}" for key, value in options.items())
        raise ModelOptionError(f"model {name!r}: bad option value ({exc}); options given: {given}") from exc
    if not isinstance(model, Recommender):
        raise InvalidInputError(
            f"model {name!r} (plugin {spec.plugin!r}) built a {type(model).__name__}, not a coldkit.models.Recommender"
        )
    if backend is not None:
        if not isinstance(backend, str):
            raise ModelOptionError(f"model {name!r}: backend must be a similarity backend name, got {backend!r}")
        model.set_backend(backend)
    return model


def _options_hint(name: str, wrong: str | None = None) -> str:
    """``"; its options: a, b, ..."`` for model ``name`` (empty when they cannot be read), first the ones
    ``wrong`` may have meant: a part of their name (``seed`` of ``validation_seed``) or close to it."""
    try:
        names = sorted(_constructor_parameters(name))
    except Exception:  # a plugin's factory that hides its signature: no hint rather than a second error
        return ""
    if not names:
        return "; it takes no options"
    meant: list[str] = []
    if wrong:
        meant = [n for n in names if wrong.lower() in n.lower().split("_")]
        meant += [n for n in difflib.get_close_matches(wrong, names, n=3) if n not in meant]
    said = f" (did you mean {' or '.join(meant)}?)" if meant else ""
    return f"{said}; its options: {', '.join(names)}"


def _short(value: Any, width: int = 40) -> str:
    """``repr(value)`` cut to ``width`` characters: an option may be a whole profile table."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _target(name: str) -> Callable[..., Any]:
    """What model ``name``'s options are read from: the class behind its factory where that is known.

    A :func:`~coldkit.plugins.types.lazy_factory` (the built-ins' too) names it by ``load()``; a plain
    function that forwards ``**options`` names it by its return annotation (``-> MyModel``). A bare
    forwarding function hides it: ``--encoder`` was then said to have "no effect" on a model that takes
    an encoder, and a misspelt option got "it takes no options".
    """
    factory = registry("model").get(name).factory
    load = getattr(factory, "load", None)
    if callable(load):
        return load()  # type: ignore[no-any-return]
    if inspect.isfunction(factory) and _forwards_only(factory):
        # only a bare forward: a factory with its own parameters (typed "-> Recommender", or building another
        # class than it says) is read by its own signature, as before
        try:
            returned = inspect.signature(factory, eval_str=True).return_annotation
        except Exception:  # noqa: BLE001 - an annotation that does not resolve names no class: the factory it is
            returned = None
        if inspect.isclass(returned) and returned is not object and not inspect.isabstract(returned) and returned.__name__ != "Recommender":
            return returned
    return factory


def _forwards_only(factory: Callable[..., Any]) -> bool:
    """Whether ``factory`` takes nothing but ``*args`` / ``**kwargs`` (it forwards them to what it builds)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD) for p in params)


def model_accepts(name: str, option: str) -> bool:
    """Whether model ``name``'s constructor takes the keyword ``option`` (False for unknown models)."""
    if name not in registry("model"):
        return False
    if option == "backend":  # every model takes it (build_model applies it with set_backend)
        return True
    target = _target(name)
    # Follow ``**options`` pass-through up the class hierarchy: a keyword counts only when some
    # constructor on the way names it explicitly.
    for cls in inspect.getmro(target) if inspect.isclass(target) else (target,):
        init = cls.__init__ if inspect.isclass(cls) else cls
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return False
        if option in params:
            return True
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return False
    return False


def model_defaults(name: str) -> dict[str, Any]:
    """Model ``name``'s constructor options and their defaults (options without a default are left out).

    Follows ``**options`` pass-through up the class tree like :func:`model_accepts`; a plugin
    factory that is a plain function gives its own signature's defaults.
    """
    params = _constructor_parameters(name)
    return {key: p.default for key, p in params.items() if p.default is not inspect.Parameter.empty}


def model_requires(name: str) -> list[str]:
    """The options model ``name``'s constructor cannot do without (no default), in signature order.

    Example::

        model_requires("profile-knn")  # ['user_profiles']
    """
    params = _constructor_parameters(name) if name in registry("model") else {}
    return [key for key, p in params.items() if p.default is inspect.Parameter.empty and key != "self"]


def _constructor_parameters(name: str) -> dict[str, inspect.Parameter]:
    """Model ``name``'s named constructor parameters (``**options`` pass-through followed up the class tree)."""
    target = _target(name)
    if inspect.isclass(target) and issubclass(target, Recommender):
        params = target._parameters()
    else:
        try:
            params = dict(inspect.signature(target).parameters)
        except (TypeError, ValueError):
            return {}
    return {key: p for key, p in params.items() if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}


def default_encoder_name() -> str:
    """``"bert"`` when a plugin registers it (MiniLM vectors), else the built-in ``"hashing"``.

    Raises:
        DuplicateComponentError: two plugins register ``bert``: the default would be neither (it silently
            fell back to ``hashing``, and every run without ``--encoder`` ranked with it).
    """
    try:
        encoders = registry("encoder")
        names, conflicts = encoders.names(), encoders.conflicts
    except Exception:  # noqa: BLE001 - a broken plugin registry must not break model construction
        return "hashing"
    if "bert" in conflicts:
        encoders.get("bert")  # raises DuplicateComponentError, naming the plugins
    return "bert" if "bert" in names else "hashing"


def parse_option_value(text: str) -> Any:
    """A model option's value from the command line.

    A value starting with ``{``, ``[`` or ``"`` is JSON (``weights='{"cf_knn": 0}'``, ``encoder='["hashing","bert"]'``);
    otherwise int, float, ``true``/``false``, ``null`` (None), else the bare string. ``none`` stays a string:
    several options take the word ``"none"`` as a value.

    Raises:
        InvalidInputError: a value that starts like JSON but is not valid JSON (the message says where).

    Example::

        parse_option_value('{"cf_knn": 0}')   # {'cf_knn': 0}
        parse_option_value("0.5")             # 0.5
        parse_option_value("center")          # 'center'
    """
    stripped = text.strip()
    if stripped[:1] in ("{", "[", '"'):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"option value {stripped!r} starts like JSON but is not valid JSON ({exc.msg} at character {exc.pos}); "
                "quote it for the shell, e.g. --option weights='{\"cf_knn\": 0}'"
            ) from None
    low = stripped.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    for cast in (int, float):
        try:
            return cast(stripped)
        except ValueError:
            pass
    return stripped
