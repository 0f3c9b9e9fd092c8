"""The plugin manager: loads built-in and installed plugins once, and builds name -> spec registries.

Loading is lazy and idempotent (the first registry lookup loads plugins). Each installed plugin is
imported in its own ``try`` so one broken plugin becomes a :class:`PluginLoadWarning` naming it,
never an import error for the whole toolkit. ``COLDKIT_LOAD_PLUGINS`` (comma-separated entry-point
names; empty means none) restricts which installed plugins load; built-ins always load.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import threading
import warnings
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Generic, Iterable, TypeVar

import pluggy

from coldkit.exceptions import (
    ComponentContractError,
    DuplicateComponentError,
    InvalidInputError,
    PluginLoadWarning,
    UnknownComponentError,
)
from coldkit.plugins import hookspecs
from coldkit.plugins.types import (
    ComponentSpec,
    Encoder,
    EncoderSpec,
    FusionSpec,
    FusionStrategy,
    ModelSpec,
    RerankerSpec,
    SimilarityBackend,
    SimilarityBackendSpec,
)

__all__ = [
    "is_builtin",
    "ENTRY_POINT_GROUP",
    "LOAD_PLUGINS_ENV",
    "DEFAULT_PLUGINS",
    "KINDS",
    "Kind",
    "Registry",
    "get_plugin_manager",
    "load_plugins",
    "register_plugin",
    "unregister_plugin",
    "registry",
    "reset_plugins",
    "plugin_report",
    "get_encoder",
    "get_similarity_backend",
    "get_fusion",
    "get_reranker",
    "plugin_at_fault",
    "check_built",
]

ENTRY_POINT_GROUP = "coldkit"
LOAD_PLUGINS_ENV = "COLDKIT_LOAD_PLUGINS"

# Built-in components are ordinary plugins too: same hooks, same registries, no special path.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "coldkit.builtins.similarity",
    "coldkit.builtins.fusion",
    "coldkit.builtins.encoders",
    "coldkit.builtins.rerankers",
    "coldkit.builtins.models",
)

if TYPE_CHECKING:
    from coldkit.rerank import Reranker

SpecT = TypeVar("SpecT", bound=ComponentSpec)


@dataclass(frozen=True)
class Kind:
    """One kind of component: the hook that yields it and the spec type it must be."""

    name: str  # "encoder"
    plural: str  # "encoders" (key in `coldkit plugins` output)
    hook: str  # "coldkit_encoders"
    spec_type: type[ComponentSpec]


KINDS: dict[str, Kind] = {
    "encoder": Kind("encoder", "encoders", "coldkit_encoders", EncoderSpec),
    "similarity_backend": Kind(
        "similarity_backend", "similarity_backends", "coldkit_similarity_backends", SimilarityBackendSpec
    ),
    "fusion": Kind("fusion", "fusion_strategies", "coldkit_fusion_strategies", FusionSpec),
    "reranker": Kind("reranker", "rerankers", "coldkit_rerankers", RerankerSpec),
    "model": Kind("model", "models", "coldkit_models", ModelSpec),
}

_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_loaded = False
_registries: dict[str, "Registry[Any]"] = {}
_load_errors: list[dict[str, str]] = []
_distributions: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with built-in and installed plugins loaded."""
    load_plugins()
    assert _pm is not None
    return _pm


def _warn(plugin: str, what: str, exc: BaseException) -> None:
    message = f"coldkit plugin {plugin!r}: {what}: {type(exc).__name__}: {exc}"
    _load_errors.append({"plugin": plugin, "error": message})
    warnings.warn(message, PluginLoadWarning, stacklevel=3)


def _newer_coldkit_hint(ep: Any, exc: BaseException) -> str:
    """Where a plugin's import failed on a name coldkit lacks, the coldkit its package asks for and the one
    installed: a plugin written for a newer coldkit otherwise said only "cannot import name 'x' from
    'coldkit.models'", which reads as a bug of the plugin or of coldkit, not as a version to upgrade."""
    missing = getattr(exc, "name", None) or ""
    if not isinstance(exc, ImportError) or not (missing == "coldkit" or missing.startswith("coldkit.")):
        return ""
    from coldkit._core import __version__

    wanted = ""
    for requirement in (getattr(ep.dist, "requires", None) or []) if ep.dist is not None else []:
        found = re.match(r"\s*coldkit\s*(\[[^\]]*\])?\s*([^;]*)", requirement)
        if found and not re.match(r"\s*coldkit[-_.\w]", requirement):  # coldkit itself, not coldkit-bert
            wanted = found.group(2).strip()
            break
    package = f"the package {ep.dist.name!r} {ep.dist.version}" if ep.dist is not None else "the plugin"
    asks = f"asks for coldkit {wanted}" if wanted else "may need a newer coldkit"
    return f" ({package} {asks}; this is coldkit {__version__}: upgrade coldkit, or install a release of the plugin made for it)"


def _selected_entry_points() -> list[Any]:
    selected = os.environ.get(LOAD_PLUGINS_ENV)
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    if selected is None:
        return eps
    wanted = {name.strip() for name in selected.split(",") if name.strip()}
    installed = {ep.name for ep in eps}
    for name in sorted(wanted - installed):
        # a misspelt name (bret for bert) loaded nothing, and the lookup then blamed the component name
        _warn(
            name,
            f"named in ${LOAD_PLUGINS_ENV} but not installed",
            LookupError(f"installed plugins: {', '.join(sorted(installed)) or 'none'}"),
        )
    return [ep for ep in eps if ep.name in wanted]


def _check_hook_names(pm: pluggy.PluginManager, plugin: object) -> None:
    """Reject implementations of hooks coldkit does not define (pluggy accepts them silently).

    A misspelt hook name would otherwise make a plugin register nothing, without a word.
    """
    unknown = sorted(
        caller.name for caller in (pm.get_hookcallers(plugin) or []) if caller.spec is None
    )
    if unknown:
        known = ", ".join(sorted(kind.hook for kind in KINDS.values()))
        raise pluggy.PluginValidationError(plugin, f"unknown hook(s) {unknown}; coldkit defines: {known}")
    if not pm.get_hookcallers(plugin):
        # a hook function without @coldkit.hookimpl is an ordinary function to pluggy: the plugin was listed by
        # `coldkit plugins` with no component and nothing said why
        hooks = sorted(kind.hook for kind in KINDS.values())
        unmarked = [name for name in hooks if callable(getattr(plugin, name, None))]
        why = (f"{', '.join(unmarked)} lack(s) the @coldkit.hookimpl decorator" if unmarked
               else f"it implements none of coldkit's hooks ({', '.join(hooks)})")
        raise pluggy.PluginValidationError(plugin, f"registers no component: {why}")


def load_plugins() -> None:
    """Register built-in plugins and the installed ones selected by ``COLDKIT_LOAD_PLUGINS``.

    Safe to call many times; only the first call does work (until :func:`reset_plugins`).
    """
    global _pm, _loaded
    with _lock:
        if _loaded:
            return
        _pm = _new_manager()
        for module_name in DEFAULT_PLUGINS:
            # A failing built-in is a coldkit bug: let it raise.
            _pm.register(importlib.import_module(module_name), name=module_name)
        for ep in _selected_entry_points():
            if _pm.get_plugin(ep.name) is not None:
                first = _distributions.get(ep.name, (None, None))[0]
                other = ep.dist.name if ep.dist is not None else None
                if first is not None and other is not None and first != other:
                    # two packages chose one entry-point name: the second's components vanished
                    # without a word (the same package seen twice on sys.path is fine)
                    _warn(
                        ep.name,
                        f"entry point of {other!r} not loaded",
                        LookupError(f"the package {first!r} already registered the plugin name {ep.name!r}; "
                                    "one of the two must rename its [project.entry-points.coldkit] entry"),
                    )
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - any failure of third-party code is a warning
                _warn(ep.name, f"import of {ep.value!r} failed{_newer_coldkit_hint(ep, exc)}", exc)
                continue
            try:
                _pm.register(plugin, name=ep.name)
                _check_hook_names(_pm, plugin)
            except Exception as exc:  # noqa: BLE001 - pluggy validation errors, bad hook names...
                if _pm.is_registered(plugin):
                    _pm.unregister(plugin)
                _warn(ep.name, "registration failed", exc)
                continue
            if ep.dist is not None:
                _distributions[ep.name] = (ep.dist.name, ep.dist.version)
        _loaded = True


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object (module, class instance...) in this process; return its name.

    Use it for plugins that are not installed as packages, e.g. in tests or notebooks::

        class MyPlugin:
            @coldkit.hookimpl
            def coldkit_encoders(self):
                return [coldkit.EncoderSpec("mine", "...", make_mine, {"text"})]

        coldkit.register_plugin(MyPlugin(), name="mine")
    """
    pm = get_plugin_manager()
    with _lock:
        registered = pm.register(plugin, name=name)
        try:
            _check_hook_names(pm, plugin)
        except pluggy.PluginValidationError:
            pm.unregister(plugin)
            raise
        _registries.clear()
    if registered is None:  # pluggy returns None for a plugin blocked by name
        raise ValueError(f"plugin {name!r} is blocked and cannot be registered")
    return registered


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered under ``name`` (no error if absent)."""
    pm = get_plugin_manager()
    with _lock:
        plugin = pm.get_plugin(name)
        if plugin is not None:
            pm.unregister(plugin, name=name)
        _registries.clear()


def reset_plugins() -> None:
    """Forget every loaded plugin; the next lookup loads them again (re-reading the environment)."""
    global _pm, _loaded
    with _lock:
        _pm = None
        _loaded = False
        _registries.clear()
        _load_errors.clear()
        _distributions.clear()


class Registry(Generic[SpecT]):
    """Name -> spec for one kind of component, built from every plugin's hook results."""

    def __init__(self, kind: Kind, pm: pluggy.PluginManager) -> None:
        self.kind = kind
        self._specs: dict[str, SpecT] = {}
        self._conflicts: dict[str, list[str]] = {}
        for plugin_name, specs in self._collect(pm):
            for spec in specs:
                self._add(plugin_name, spec)

    def _collect(self, pm: pluggy.PluginManager) -> Iterable[tuple[str, list[SpecT]]]:
        # Call every implementation separately: pluggy's combined call would let one
        # raising plugin hide the results of all the others.
        caller = getattr(pm.hook, self.kind.hook)
        for impl in caller.get_hookimpls():  # registration order (pluggy calls them in reverse)
            plugin_name = impl.plugin_name
            try:
                result = impl.function()
                if result is None:
                    # a hook that forgot its ``return`` registered nothing without a word (as a
                    # misspelt hook name did before _check_hook_names)
                    raise TypeError(f"{self.kind.hook}() returned None; it must return a list of {self.kind.spec_type.__name__}")
                if isinstance(result, (ComponentSpec, str, bytes)):
                    raise TypeError(
                        f"{self.kind.hook}() must return a list of {self.kind.spec_type.__name__} records, "
                        f"got one {type(result).__name__}; wrap it in a list"
                    )
                specs = list(result)
                for spec in specs:
                    if not isinstance(spec, self.kind.spec_type):
                        raise TypeError(
                            f"{self.kind.hook}() must return {self.kind.spec_type.__name__} records, "
                            f"got {type(spec).__name__}"
                        )
            except Exception as exc:  # noqa: BLE001 - a broken plugin is a warning, not a crash
                _warn(plugin_name, f"hook {self.kind.hook}() failed", exc)
                continue
            yield plugin_name, specs  # type: ignore[misc]

    def _add(self, plugin_name: str, spec: SpecT) -> None:
        spec = replace(spec, plugin=plugin_name)
        if spec.name in self._conflicts:
            self._conflicts[spec.name].append(plugin_name)
        elif spec.name in self._specs:
            first = self._specs.pop(spec.name)
            self._conflicts[spec.name] = [first.plugin, plugin_name]
        else:
            self._specs[spec.name] = spec

    def names(self) -> list[str]:
        """The unambiguous names, sorted."""
        return sorted(self._specs)

    def specs(self) -> list[SpecT]:
        """The unambiguous specs, sorted by name."""
        return [self._specs[name] for name in self.names()]

    @property
    def conflicts(self) -> dict[str, list[str]]:
        """Names registered by more than one plugin -> the plugins that registered them."""
        return {name: list(plugins) for name, plugins in self._conflicts.items()}

    def get(self, name: str) -> SpecT:
        """The spec registered as ``name``.

        Raises:
            UnknownComponentError: nobody registered ``name`` (the message lists the valid names).
            DuplicateComponentError: several plugins registered ``name`` (the message names them).
        """
        if not isinstance(name, str):  # a list was "TypeError: unhashable type: 'list'", naming nothing
            raise UnknownComponentError(
                f"{self.kind.name} names are strings, got {type(name).__name__} {name!r:.60}; "
                f"valid: {', '.join(self.names()) or '(none)'}"
            )
        if name in self._specs:
            return self._specs[name]
        if name in self._conflicts:
            claimed = self._conflicts[name]
            if len(set(claimed)) == 1:  # "by more than one plugin: 'bad' and 'bad'" named one plugin twice
                raise DuplicateComponentError(
                    f"{self.kind.name} {name!r} is registered {len(claimed)} times by plugin {claimed[0]!r}; "
                    "its hook returns that name more than once (one spec per name)"
                )
            plugins = " and ".join(repr(p) for p in dict.fromkeys(claimed))
            raise DuplicateComponentError(
                f"{self.kind.name} {name!r} is registered by more than one plugin: {plugins}; "
                f"uninstall one or select plugins with {LOAD_PLUGINS_ENV}"
            )
        valid = ", ".join(self.names()) or "(none)"
        # The name may belong to a plugin that is installed but did not load: say so here, where the
        # user looks, not only in a warning printed before (or in `coldkit plugins`).
        hints = []
        base, colon, options = name.partition(":")
        if colon and base in self._specs:
            # "bert:precision=fp32" is the NAME:KEY=VALUE form some flags read (--image-encoder, --models); a
            # name alone is wanted here, and "unknown encoder" sent users looking for a missing plugin
            hints.append(
                f"{name!r} is {self.kind.name} {base!r} with options ({options}): give the name alone here and its "
                "options apart (for an encoder: encoder_options= / --option encoder_options='{...}', or a model's "
                f"encoder= option, which takes {name!r} as it is)"
            )
        failed = sorted({error["plugin"] for error in _load_errors})
        if failed:
            hints.append(f"plugin(s) that failed to load: {', '.join(failed)} (`coldkit plugins` shows why)")
        selected = os.environ.get(LOAD_PLUGINS_ENV)
        if selected is not None:
            hints.append(f"${LOAD_PLUGINS_ENV}={selected!r} limits the installed plugins loaded")
        hint = "; " + "; ".join(hints) if hints else ""
        raise UnknownComponentError(f"unknown {self.kind.name} {name!r}; available: {valid}{hint}")

    def __contains__(self, name: object) -> bool:
        return name in self._specs


def registry(kind: str) -> Registry[Any]:
    """The registry of one kind (``"encoder"``, ``"similarity_backend"``, ``"fusion"``, ``"reranker"``, ``"model"``), built once."""
    if kind not in KINDS:
        raise UnknownComponentError(f"unknown component kind {kind!r}; available: {', '.join(KINDS)}")
    pm = get_plugin_manager()
    with _lock:
        reg = _registries.get(kind)
        if reg is None:
            reg = _registries[kind] = Registry(KINDS[kind], pm)
        return reg


def plugin_report() -> dict[str, Any]:
    """Everything ``coldkit plugins`` prints: each plugin and what it registers, conflicts, load errors.

    Builds registries (calls hooks) but never calls a factory, so no heavy library is imported.
    """
    pm = get_plugin_manager()
    regs = {kind: registry(kind) for kind in KINDS}
    plugins: dict[str, dict[str, Any]] = {}
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        package, version = _distributions.get(name, (None, None))
        plugins[name] = {
            "name": name,
            "builtin": name in DEFAULT_PLUGINS,
            "package": package,
            "version": version,
            **{KINDS[kind].plural: [] for kind in KINDS},
        }
    for kind, reg in regs.items():
        for spec in reg.specs():
            if spec.plugin in plugins:
                plugins[spec.plugin][KINDS[kind].plural].append(spec.describe())
    return {
        "plugins": sorted(plugins.values(), key=lambda p: (not p["builtin"], p["name"])),
        "conflicts": {KINDS[kind].plural: reg.conflicts for kind, reg in regs.items() if reg.conflicts},
        "errors": list(_load_errors),
    }


def _not_taken(options: dict[str, Any], exc: TypeError) -> list[str]:
    """The options Python's TypeError names as unexpected (all of ``options`` where it names none): the message
    listed every option given, so a valid ``model=`` was named beside the mistyped one."""
    named = re.findall(r"unexpected keyword argument '(\w+)'", str(exc))
    return sorted(name for name in named if name in options) or sorted(options)


def _construct(kind: str, name: str, factory: Any, options: dict[str, Any]) -> Any:
    """``factory(**options)``; options it does not take are an InvalidInputError naming them, not a TypeError."""
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise InvalidInputError(f"{kind.replace('_', ' ')} {name!r} does not take the options {_not_taken(options, exc)}: {exc}") from None
    except ValueError:  # no introspectable signature: the factory checks its own options
        pass
    try:
        return factory(**options)
    except TypeError as exc:
        # A forwarding factory (``def make(**options): return BertEncoder(**options)``, as every plugin
        # has) binds any option, so a mistyped one surfaced as a bare TypeError traceback from the class
        # it calls. Python raises that TypeError before the class's __init__ starts, so the traceback
        # ends in the factory's own frame (2 frames from here); a TypeError from deeper code is a bug
        # of that code and is left alone.
        frames, tb = 0, exc.__traceback__
        while tb is not None:
            frames, tb = frames + 1, tb.tb_next
        if frames == 2 and "keyword argument" in str(exc):
            raise InvalidInputError(f"{kind.replace('_', ' ')} {name!r} does not take the options {_not_taken(options, exc)}: {exc}") from None
        missing = re.findall(r"'(\w+)'", str(exc)) if frames == 2 and "required" in str(exc) and "missing" in str(exc) else []
        if missing:  # get_encoder("clap") with no model: a bare TypeError from the class
            hint = " (model=: a local model folder)" if missing == ["model"] else ""
            raise InvalidInputError(f"{kind.replace('_', ' ')} {name!r} needs the option(s) {missing}{hint}: {exc}") from None
        raise


# What each kind's component must have: a factory that returned something else (None, a class
# instead of an instance, the wrong kind) failed later in coldkit with an AttributeError that named
# neither the component nor its plugin.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "encoder": ("encode_texts", "dim", "fingerprint", "name"),
    "similarity_backend": ("topk",),
    "fusion": ("fuse",),
    "reranker": ("rerank",),
}


def is_builtin(component: Any) -> bool:
    """Whether ``component`` is coldkit's own code (its class defined in the ``coldkit`` package).

    The output-contract checks that cost more than O(B * k) (excluded items returned by a backend,
    items a fusion invented) run only on plugin components: coldkit's own are tested against the
    contract, and on a 1M-item catalogue those checks took ~0.5 s per batch of 500 users each.
    """
    module = getattr(type(component), "__module__", "") or ""
    return module == "coldkit" or module.startswith("coldkit.")


def check_built(kind: str, name: str, component: Any) -> Any:
    """``component`` (what the ``kind`` registered as ``name`` built), after checking it has the interface.

    Attributes are looked up statically (``inspect.getattr_static``): a ``fingerprint`` property may
    hash model files, which a check must not pay for.

    Raises:
        ComponentContractError: a required method or attribute is missing, naming the component, its
            plugin and what is missing.
    """
    missing = []
    for attr in _REQUIRED.get(kind, ()):
        try:
            inspect.getattr_static(component, attr)
        except AttributeError:
            missing.append(attr)
    if missing or inspect.isclass(component):
        reg = registry(kind)
        plugin = reg.get(name).plugin if name in reg else "?"
        what = "a class, not an instance" if inspect.isclass(component) else f"a {type(component).__name__} without {', '.join(missing)}"
        raise ComponentContractError(
            f"{kind.replace('_', ' ')} {name!r} (plugin {plugin!r}): its factory built {what}; "
            f"{KINDS[kind].plural.replace('_', ' ')} need: {', '.join(_REQUIRED[kind])}"
        )
    return component


#: Set by :func:`get_encoder` on the encoders it builds: ``(name, options)``, what builds the same encoder again.
#: ``coldkit.save`` of a hybrid given an encoder *object* reads it (it saved the name with no options, and
#: the index could then not be opened: "re-created with options {} has fingerprint ...").
BUILT_WITH = "coldkit_built_with_"


def get_encoder(name: str, **options: Any) -> Encoder:
    """Build the encoder registered as ``name`` with ``options`` (model path, device, batch size...).

    Example::

        encoder = coldkit.get_encoder("hashing", dim=512)
        vectors = encoder.encode_texts(["a basketball game", "a violin concerto"])
    """
    encoder = check_built("encoder", name, _construct("encoder", name, registry("encoder").get(name).factory, options))
    try:
        setattr(encoder, BUILT_WITH, (name, dict(options)))
    except (AttributeError, TypeError):  # a slotted or frozen encoder: coldkit.save compares fingerprints instead
        pass
    return encoder  # type: ignore[no-any-return]


def get_similarity_backend(name: str, **options: Any) -> SimilarityBackend:
    """Build the similarity backend registered as ``name`` (``"rust"``, ``"numpy"``...)."""
    return check_built("similarity_backend", name, _construct("similarity_backend", name, registry("similarity_backend").get(name).factory, options))  # type: ignore[no-any-return]


def get_fusion(name: str, **options: Any) -> FusionStrategy:
    """Build the fusion strategy registered as ``name`` (``"weighted"``, ``"rrf"``...)."""
    return check_built("fusion", name, _construct("fusion", name, registry("fusion").get(name).factory, options))  # type: ignore[no-any-return]


def get_reranker(name: str, **options: Any) -> "Reranker":
    """Build the reranker registered as ``name`` (``"constraints"``, ``"mmr"``...)."""
    return check_built("reranker", name, _construct("reranker", name, registry("reranker").get(name).factory, options))  # type: ignore[no-any-return]



def _plugin_frames(exc: BaseException) -> list[tuple[str, str, bool]]:
    """``(plugin, "file:line in function", is_coldkit)`` for each traceback frame of ``exc`` that is a loaded
    third-party plugin's or coldkit's, outermost first (frames of neither are left out)."""
    pm = _pm
    if pm is None:
        return []
    packages: dict[str, str] = {}
    for name, plugin in pm.list_name_plugin():
        if plugin is None or name in DEFAULT_PLUGINS:
            continue
        module = getattr(plugin, "__name__", None) if inspect.ismodule(plugin) else type(plugin).__module__
        if isinstance(module, str) and module.split(".")[0] != "coldkit":
            packages[module.split(".")[0]] = name
    found: list[tuple[str, str, bool]] = []
    tb = exc.__traceback__
    while tb is not None:
        top = str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0]
        if top == "coldkit" or top in packages:
            code = tb.tb_frame.f_code
            found.append((packages.get(top, "coldkit"), f"{code.co_filename}:{tb.tb_lineno} in {code.co_name}", top == "coldkit"))
        tb = tb.tb_next
    return found


def plugin_calling(exc: BaseException) -> tuple[str, str] | None:
    """``(plugin, where)`` of the innermost plugin frame under which coldkit raised ``exc`` (its input error,
    as a plugin's call of ``coldkit.topk`` with mismatched shapes), else None. The command line adds it to the
    error's one line: it read as the user's input error, and the plugin was not named."""
    frames = _plugin_frames(exc)
    if not frames or not frames[-1][2]:
        return None
    called = [(plugin, where) for plugin, where, ours in frames if not ours]
    return called[-1] if called else None


def plugin_at_fault(exc: BaseException) -> tuple[str, str] | None:
    """``(plugin, where)`` when ``exc`` was raised inside an installed plugin's code, else None.

    The innermost traceback frame that is either coldkit's or a loaded third-party plugin's
    decides: a plugin's (its top-level package is the one its entry point named) makes the
    plugin the culprit, ``where`` being ``"file:line in function"``; a coldkit frame (or none of
    either) means coldkit's own bug, so None. The command line uses it to print one line that
    names the plugin instead of a traceback through coldkit that reads like coldkit's fault.
    Never loads plugins: with none loaded, nothing can be at fault.
    """
    frames = _plugin_frames(exc)
    if not frames or frames[-1][2]:
        return None
    return frames[-1][0], frames[-1][1]
