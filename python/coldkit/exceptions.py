"""Exceptions raised by coldkit.

Every error a user can provoke is one of these, so callers can catch ``ColdkitError``
for "coldkit said no" without also swallowing programming errors. Each subclass also
inherits the builtin exception a Python user would expect (``ValueError`` for bad
input, ``LookupError`` for unknown names), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "ColdkitError",
    "InvalidInputError",
    "UnknownComponentError",
    "DuplicateComponentError",
    "ComponentContractError",
    "NotExplainableError",
    "CacheWarning",
    "ColdkitWarning",
    "PluginLoadWarning",
    "DataWarning",
]


class ColdkitError(Exception):
    """Base class of every error coldkit raises on purpose."""


class InvalidInputError(ColdkitError, ValueError):
    """An argument has the wrong shape, dtype, value or content (NaN, inf, out of range...)."""


class UnknownComponentError(ColdkitError, LookupError):
    """A plugin component (encoder, backend, fusion strategy...) was asked for by a name nobody registered."""


class DuplicateComponentError(ColdkitError, LookupError):
    """Two plugins registered a component under the same name, so the name is ambiguous."""


class ComponentContractError(InvalidInputError):
    """A component (most often a plugin's model, encoder, backend or fusion) built or returned what its contract forbids.

    Raised where coldkit receives the component's output (wrong shape, NaN, indices outside the
    catalogue, an object without the kind's methods); the message names the component. An
    ``InvalidInputError`` for callers that catch those, and its own type for the conformance kit,
    which reports it as the broken property rather than as an error of its own.
    """


class NotExplainableError(ColdkitError, NotImplementedError):
    """``model.explain(user, item)`` was asked of a model that gives no reason for its rankings; the
    message names the model and the models that do explain. A ``NotImplementedError`` too: the
    method exists on every model (it used to be missing, a bare ``AttributeError``), only the
    answer does not."""


class ColdkitWarning(UserWarning):
    """A message from coldkit to its user, written to stand alone (the ``coldkit`` command prints it on
    one line, ``coldkit CMD: warning: ...``); filter all of coldkit's warnings by this class."""


class CacheWarning(ColdkitWarning):
    """The vector cache skipped something (an unreadable or corrupt shard, a size over its limit); the
    run goes on, encoding again what it could not read."""


class PluginLoadWarning(ColdkitWarning):
    """A plugin could not be loaded or its hook failed; the other plugins still load."""


class DataWarning(ColdkitWarning):
    """The input was read, but not all of it as given (e.g. a timestamp column with empty cells
    is read as no timestamps); the message says what and why. ``coldkit recommend`` prints it as a note."""
