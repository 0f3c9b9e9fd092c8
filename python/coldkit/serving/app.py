"""The HTTP service: a FastAPI app over a :class:`~coldkit.serving.ServingIndex` (JSON in, JSON out).

Endpoints (OpenAPI at ``/docs`` and ``/openapi.json``):

* ``GET /health`` — counts, the index version and the build's notes;
* ``POST /recommend`` — a user id, and/or profile text and/or this session's clicks (``history``); ``k``; a candidate
  filter; constraints (exclusions, per-category limits, a minimum share of new items, MMR); or, for on-device
  scoring, the user's own CF vector (``user_vector``) instead of the id and clicks;
* ``GET /vectors?offset=&limit=`` — the items' fold-in vectors, from which a device computes its ``user_vector``;
* ``GET /items/{id}`` and ``GET /items/{id}/similar?k=``;
* write endpoints (bearer token when one is configured): ``POST /items`` (add/update),
  ``DELETE /items/{id}``, ``POST /interactions``, ``POST /users``, ``POST /snapshot``.

Every bad request gets a 4xx with a message: 401/403 (token), 404 (unknown id, named), 409
(read-only / nowhere to snapshot), 413 (body too large), 415 (a body not sent as
``content-type: application/json``), 422 (malformed JSON, wrong types, values
out of range). A write is acknowledged (2xx) only after it is in the write-ahead log on disk.

Example::

    from coldkit.serving import create_app
    app = create_app("my-index", token="s3cret")      # then: uvicorn.run(app)
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import numbers
import os
import sys
import threading
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Coroutine, Literal, Mapping, Optional, Union

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from coldkit._core import __version__
from coldkit.exceptions import ColdkitError, ComponentContractError, InvalidInputError
from coldkit.media import URL_REFUSAL, check_media_root, is_url, resolve_in_root
from coldkit.serving.errors import IndexStorageError, ReadOnlyIndexError, UnknownIdError
from coldkit.serving.follow import LogFollower
from coldkit.serving.index import MAX_K, ServingIndex
from coldkit.serving.reads import build_reranker
from coldkit.serving.storage import load, save

_LOG = logging.getLogger("coldkit.serving")

__all__ = ["create_app", "app_from_env", "check_token", "TOKEN_ENV", "DEFAULT_MAX_BODY_BYTES"]

TOKEN_ENV = "COLDKIT_TOKEN"
PATH_ENV = "COLDKIT_SERVE_PATH"
MEDIA_ROOT_ENV = "COLDKIT_MEDIA_ROOT"
RERANKER_ENV = "COLDKIT_SERVE_RERANKER"  # ``--reranker`` for each worker process
RERANKER_OPTIONS_ENV = "COLDKIT_SERVE_RERANKER_OPTIONS"  # its options as JSON
MMAP_ENV = "COLDKIT_SERVE_MMAP"  # "0": each worker reads the arrays into memory (``--no-mmap``)
DEFAULT_MAX_BODY_BYTES = 2_000_000
MAX_TEXT = 20_000
MAX_IDS = 100_000
#: Items per page of ``GET /vectors``.
MAX_VECTORS_PAGE = 10_000
ItemId = StrictStr
Number = Union[StrictFloat, StrictInt]


# ------------------------------------------------------------------------------------------ strict JSON
def _refuse_constant(name: str) -> Any:
    raise HTTPException(422, f"JSON numbers must be finite: {name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):  # e.g. 1e999 overflows to inf
        raise HTTPException(422, f"JSON numbers must be finite: {text[:40]} is out of range")
    return value


def _finite_int(text: str) -> int:
    # an integer beyond float's range passed the float check and was a 500 where a float is needed
    # (user_vector: "int too large to convert to float"); past 4300 digits int() itself refuses it,
    # which the framework answered with a 400 that did not say why
    digits = len(text.lstrip("-"))
    if digits > 309 or abs(value := int(text)) > sys.float_info.max:
        raise HTTPException(422, f"JSON numbers must be finite: an integer of {digits} digits is out of range")
    return value


def _find_surrogate(value: Any, where: str = "body") -> str | None:
    """Where ``value`` holds a lone UTF-16 surrogate (in a key or a string), else None."""
    stack = [(value, where)]
    while stack:  # iterative: a deeply nested body cannot exhaust the recursion limit
        node, at = stack.pop()
        if isinstance(node, str):
            if not _encodable(node):
                return at
        elif isinstance(node, dict):
            for key, item in node.items():
                if not _encodable(key):
                    return f"{at} (a key)"
                stack.append((item, f"{at}.{safe_text(key)}"))
        elif isinstance(node, list):
            stack.extend((item, f"{at}[{pos}]") for pos, item in enumerate(node))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def safe_text(text: object) -> str:
    """``text`` as a string that encodes as UTF-8 (lone surrogates escaped as ``\\udXXX``)."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


class _StrictJSONRequest(Request):
    """A request whose JSON body may hold neither NaN/Infinity nor lone surrogates (422 names where)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                body = json.loads(
                    await self.body(), parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_finite_int
                )
            except RecursionError:  # was a 400 "There was an error parsing the body"
                raise HTTPException(422, "the JSON body is nested too deeply") from None
            except UnicodeDecodeError as exc:  # also that 400 (e.g. Latin-1 text: "caf\xe9")
                raise HTTPException(
                    422, f"the JSON body is not valid {exc.encoding.upper()}: byte 0x{exc.object[exc.start]:02x} at position {exc.start}"
                ) from None
            where = _find_surrogate(body)
            if where is not None:
                raise HTTPException(422, f"{where}: text holds a lone UTF-16 surrogate (not valid Unicode)")
            self._json = body
        return self._json


def _is_json(content_type: str) -> bool:
    """Whether a ``content-type`` header names JSON (``application/json`` or ``application/*+json``), as FastAPI reads it."""
    kind = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = kind.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _query_names(dependant: Any) -> set[str]:
    """The query parameters an endpoint declares, its dependencies' included (FastAPI's ``Dependant`` tree)."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        node = stack.pop()
        names.update(param.alias for param in node.query_params)
        stack.extend(node.dependencies)
    return names


class _StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None
        declared = _query_names(self.dependant)
        # a write endpoint's token check (require_token), run before any rule about the body: FastAPI
        # resolves dependencies after the body, so a form sent without a token was answered 415 (and a
        # malformed one 422) before 401, and a client without a token learnt the body rules
        gates = [getattr(d.dependency, "check_request") for d in self.dependencies if hasattr(d.dependency, "check_request")]

        async def strict(request: Request) -> Response:
            for gate in gates:
                await gate(request)
            content_type = request.headers.get("content-type", "")
            if takes_body and not _is_json(content_type):
                # FastAPI hands a non-JSON body to the model as bytes, and pydantic then answered 422
                # "Input should be a valid dictionary or object to extract fields from": no word of
                # the header that was wrong (curl -d sends application/x-www-form-urlencoded)
                had = f"content-type {safe_text(content_type)[:100]!r}" if content_type.strip() else "no content-type header"
                raise HTTPException(
                    415, f"this endpoint takes a JSON body sent with 'content-type: application/json'; the request had {had}"
                )
            if takes_body:
                # FastAPI ignores a query parameter no endpoint declares: POST /recommend?k=5 answered the
                # default 10 items, without a word. A body endpoint's fields are in the body (unknown body
                # fields are refused too), so an undeclared query parameter is refused, named
                unknown = sorted({name for name in request.query_params if name not in declared})
                if unknown:
                    raise RequestValidationError([
                        {"loc": ("query", name), "type": "extra_forbidden",
                         "msg": f"unknown query parameter; {self.path} takes its fields in the JSON body "
                                f"(e.g. {{{json.dumps(name)}: ...}})"}
                        for name in unknown[:20]
                    ])
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict


def _json_kind(value: Any) -> str:
    """The JSON type name of a parsed value (``null``, ``array``...), for a message that does not echo it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _message(error: Any) -> str:
    """A validation error's message; a body that is JSON but not an object is said so in JSON's words
    (pydantic's "Input should be a valid dictionary or object to extract fields from" for ``[]``)."""
    if tuple(error.get("loc", ())) == ("body",) and error.get("type") == "model_attributes_type":
        return f"the body must be a JSON object ({{...}}), got {_json_kind(error.get('input'))}"
    return str(error.get("msg", ""))


def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error response that can always be rendered (no surrogates, no NaN)."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


# ------------------------------------------------------------------------------------------ schemas
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConstraintsIn(_Strict):
    """Business rules for one list; relaxed in ``relax_order`` (and reported) when they cannot all hold."""

    exclude: list[ItemId] = Field(default_factory=list, max_length=MAX_IDS, description="items never shown")
    max_per_category: Optional[Union[StrictInt, dict[StrictStr, StrictInt]]] = Field(
        None, description="at most this many items per category (or category -> limit)"
    )
    min_new_share: Number = Field(0.0, ge=0.0, le=1.0, description="at least this share of new (cold) items")
    mmr_lambda: Optional[Number] = Field(None, ge=0.0, le=1.0, description="diversify with MMR (1 = relevance only)")
    relax_order: Optional[list[Literal["min_new_share", "max_per_category"]]] = None


class RecommendIn(_Strict):
    user_id: Optional[StrictStr] = Field(None, max_length=256, description="a known user")
    text: Optional[StrictStr] = Field(None, max_length=MAX_TEXT, description="the user's own words")
    history: list[ItemId] = Field(default_factory=list, max_length=1000, description="items clicked this session")
    user_vector: Optional[list[Number]] = Field(
        None, max_length=100_000,
        description="on-device scoring: the user's CF vector (cf_dim numbers, see GET /vectors), instead of user_id/history",
    )
    k: StrictInt = Field(10, ge=1, le=MAX_K)
    candidates: Optional[list[ItemId]] = Field(None, max_length=MAX_IDS, description="only these items may be shown")
    exclude_known: StrictBool = Field(True, description="drop items the user already interacted with")
    explain: StrictBool = True
    constraints: Optional[ConstraintsIn] = None


class ItemOut(BaseModel):
    id: str
    score: float
    new: bool
    why: Optional[str] = None


class RecommendOut(BaseModel):
    items: list[ItemOut]
    relaxed: list[str]
    sources: dict[str, float]
    version: int
    unknown_categories: list[str] = Field(
        default_factory=list,
        description="categories of constraints.max_per_category that no current item has (their limits applied to nothing)",
    )


class ItemIn(_Strict):
    id: StrictStr = Field(..., min_length=1, max_length=256)
    text: StrictStr = Field(..., max_length=MAX_TEXT)
    categories: list[StrictStr] = Field(default_factory=list, max_length=100)
    image: Optional[StrictStr] = Field(None, max_length=4096, description="image path on the server (image encoders)")
    audio: Optional[StrictStr] = Field(None, max_length=4096, description="audio path on the server (indexes built with --audio-column)")


class InteractionIn(_Strict):
    user_id: StrictStr = Field(..., min_length=1, max_length=256)
    item_id: StrictStr = Field(..., min_length=1, max_length=256)


class ItemsIn(_Strict):
    items: list[ItemIn] = Field(..., min_length=1)


class InteractionsIn(_Strict):
    events: list[InteractionIn] = Field(..., min_length=1)


class UserIn(_Strict):
    id: StrictStr = Field(..., min_length=1, max_length=256)
    text: Optional[StrictStr] = Field(None, max_length=MAX_TEXT)
    items: list[ItemId] = Field(default_factory=list, max_length=1000)


class HealthOut(BaseModel):
    status: str
    items: int
    rows: int
    dead_rows: int
    users: int
    version: int
    encoder: str
    backend: str
    reranker: str = Field(description="the reranker of lists with constraints (constraints), or of every list (--reranker)")
    content_dim: int
    cf_dim: int
    read_only: bool
    path: Optional[str]
    build_notes: list[str] = Field(
        default_factory=list, description="what the fit noted when the index was built (e.g. a source's learned weight of 0)"
    )


# ------------------------------------------------------------------------------------------ body limit
class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, whether or not a Content-Length is sent."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await _send_json(send, 400, {"detail": "invalid Content-Length header"})
                    return
                if length > self.max_bytes:
                    await _send_json(send, 413, {"detail": f"request body of {length} bytes exceeds the limit of {self.max_bytes}"})
                    return
        received = 0
        started = False
        too_large = False

        async def limited_receive() -> Any:
            nonlocal received, too_large, started
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # answer 413 now and tell the app the client is gone; whatever it does next is dropped
                    too_large = True
                    if not started:
                        started = True
                        await _send_json(send, 413, {"detail": f"request body exceeds the limit of {self.max_bytes} bytes"})
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if too_large:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:
            if not too_large:
                raise


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    import json

    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


# ------------------------------------------------------------------------------------------ media paths
class MediaRoot:
    """Confines image paths sent over HTTP to one directory (see ``create_app(media_root=...)``)."""

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        self.root: str | None = check_media_root(root) if root is not None else None

    def resolve(self, image: str, item_id: str, what: str = "image") -> str:
        """The real path of ``image`` inside the root, else InvalidInputError (422) that says nothing of the file."""
        if self.root is None:
            raise InvalidInputError(
                f"item {safe_text(item_id)!r}: this server takes no {what} paths (start it with --media-root DIR)"
            )
        # realpath follows symbolic links, so a link inside the root that points out of it is refused too;
        # the answer is the same whether or not the file exists: the response must not probe the file system
        if is_url(image):  # joined to the root, it was "image file not found: '<media root>/http:/...'"
            raise InvalidInputError(f"item {safe_text(item_id)!r}: the {what} {safe_text(image)!r:.120} {URL_REFUSAL}")
        outside = f"item {safe_text(item_id)!r}: the {what} path is outside the server's media root"
        real = resolve_in_root(image, self.root)
        if real is None:
            raise InvalidInputError(outside)
        return real

    def hide(self, message: str) -> str:
        """``message`` with the root's absolute path replaced by ``<media root>``."""
        return message if self.root is None else message.replace(self.root, "<media root>")

    def shown(self, image: str) -> str:
        """``image`` as a client may see it: relative to the root (never a server's absolute path)."""
        if self.root is not None and os.path.commonpath([os.path.realpath(image), self.root]) == self.root:
            return os.path.relpath(os.path.realpath(image), self.root)
        return os.path.basename(image)


# ------------------------------------------------------------------------------------------ the app
def create_app(
    index_or_path: ServingIndex | str | os.PathLike[str],
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_items_per_request: int = 1000,
    read_only: bool = False,
    mmap: bool = True,
    media_root: str | os.PathLike[str] | None = None,
    follow: bool = True,
    poll_interval: float = 0.2,
    reranker: str | None = None,
    reranker_options: Mapping[str, Any] | None = None,
) -> FastAPI:
    """A FastAPI app serving ``index_or_path`` (an index, or the directory of a saved one).

    Args:
        token: bearer token required by the write endpoints (default ``$COLDKIT_TOKEN``; none = open).
        max_body_bytes: larger request bodies get 413.
        max_items_per_request: most items in one ``POST /items`` and events in one ``POST /interactions`` (x10).
        read_only: open a path without the writer lock; write endpoints answer 409.
        mmap: memory-map a loaded index's arrays.
        media_root: the directory image paths in ``POST /items`` must lie in (relative paths are
            taken from it; ``..`` and symbolic links out of it are refused). None: the server takes
            no image paths at all. A refused path gets the same 422 whether or not the file exists.
        follow: with ``read_only`` and a path, follow the writer's log from a background thread
            (every ``poll_interval`` seconds), so writes acknowledged by the writer process are
            served here too, within about ``poll_interval`` (see :mod:`coldkit.serving.follow`).
        reranker: a registered reranker (a plugin's) that re-ranks every list, with the request's
            constraints (:meth:`~coldkit.serving.reads.IndexReader.use_reranker`); None: the built-in
            ``constraints``, for the lists that ask for constraints. ``reranker_options`` build it.
    """
    # Checked before the index is opened: a limit below 1 answered every request with 413 (or
    # refused every write), and a poll interval <= 0 spun a follower thread at 100 % CPU.
    for name, value in (("max_body_bytes", max_body_bytes), ("max_items_per_request", max_items_per_request)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise InvalidInputError(f"create_app: {name} must be an integer >= 1, got {value!r}")
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, numbers.Real) or not 0 < poll_interval < math.inf:
        raise InvalidInputError(f"create_app: poll_interval must be a number of seconds > 0, got {poll_interval!r}")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        # an empty token is a credential nobody can send: every write was answered 401, with no way in
        raise InvalidInputError(
            f"create_app: token must be a non-empty string (or None: no token, writes open), got "
            f"{'an empty string' if isinstance(token, str) else type(token).__name__}"
        )
    from coldkit.validation import check_flag

    read_only, follow, mmap = check_flag(read_only, "read_only"), check_flag(follow, "follow"), check_flag(mmap, "mmap")
    # checked before a path is opened: a refusal after load() left the index's lock and log files open
    # (in-process, the same path then could not be opened again until the garbage collector ran)
    token = check_token(token, "create_app: token") if token is not None else _env_token()
    media = MediaRoot(media_root)
    rerank_with: tuple[str, dict[str, Any]] | None = None
    if reranker is not None:
        if reranker_options is not None and not isinstance(reranker_options, Mapping):
            raise InvalidInputError(f"create_app: reranker_options must be a mapping, got {type(reranker_options).__name__}")
        rerank_with = (reranker, dict(reranker_options or {}))
        build_reranker(reranker, rerank_with[1])  # an unknown name or a bad option fails before the index is opened
    elif reranker_options:
        raise InvalidInputError("create_app: reranker_options= without reranker= (the built-in constraints reranker takes none)")
    follower: LogFollower | None = None
    if isinstance(index_or_path, ServingIndex):
        index = index_or_path
    elif read_only and follow:
        follower = LogFollower(index_or_path, mmap=mmap)
        index = follower.index
    else:
        index = load(index_or_path, mmap=mmap, read_only=read_only)

    def current() -> ServingIndex:
        """The index this request is answered from (a follower swaps in a fresh one after a snapshot)."""
        return index if follower is None else follower.index

    # this app's reranker travels with each request (the index is left as it is: another app, or the
    # caller's own code, may serve the same index object with its own)
    reranker_args: dict[str, Any] = {} if rerank_with is None else {"reranker": rerank_with[0], "reranker_options": rerank_with[1]}

    bearer = HTTPBearer(auto_error=False, description="required by write endpoints when the server has a token")

    def require_token(credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
        if token is None:
            return
        if credentials is None:
            raise HTTPException(401, "this endpoint needs 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise HTTPException(403, "invalid bearer token")

    async def check_request(request: Request) -> None:
        """The token check of ``require_token`` on the raw request: the route runs it before it reads the body."""
        require_token(await bearer(request))

    require_token.check_request = check_request  # type: ignore[attr-defined]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        if follower is not None:
            threading.Thread(target=follower.follow, args=(stop, poll_interval), name="coldkit-follow", daemon=True).start()
        try:
            yield
        finally:
            stop.set()

    app = FastAPI(
        lifespan=lifespan,
        title="coldkit",
        description="Cold-start recommendations: hybrid CF + language-model content, updated online.",
        version=__version__,
    )
    app.router.route_class = _StrictJSONRoute  # NaN/Infinity and lone surrogates in a body: 422, never 500
    app.state.index = index
    app.state.follower = follower
    app.add_middleware(BodyLimitMiddleware, max_bytes=int(max_body_bytes))
    write = [Depends(require_token)]

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # never echo the input back: it may hold what cannot be rendered (NaN, lone surrogates) or secrets
        errors = [
            {"loc": [safe_text(part) for part in error.get("loc", ())], "msg": safe_text(_message(error)),
             "type": safe_text(error.get("type", ""))}
            for error in exc.errors()
        ]
        return _error(422, errors)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, (dict, list)) else safe_text(exc.detail)
        return _error(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(UnknownIdError)
    async def _unknown(request: Request, exc: UnknownIdError) -> JSONResponse:
        return _error(404, safe_text(exc))

    @app.exception_handler(InvalidInputError)
    async def _invalid(request: Request, exc: InvalidInputError) -> JSONResponse:
        return _error(422, safe_text(exc))

    @app.exception_handler(ComponentContractError)
    async def _broken_component(request: Request, exc: ComponentContractError) -> JSONResponse:
        # a plugin (fusion, encoder, backend) the server runs broke its contract: the server's fault, not the
        # request's. As an InvalidInputError it was a 422 that told the client to fix a body nothing was
        # wrong with, and the server's log had nothing
        _LOG.error("%s %s: a component broke its contract: %s", request.method, request.url.path, exc, exc_info=exc)
        return _error(500, f"the server's {safe_text(exc)}")

    @app.exception_handler(ReadOnlyIndexError)
    async def _read_only(request: Request, exc: ReadOnlyIndexError) -> JSONResponse:
        return _error(409, safe_text(exc))

    @app.exception_handler(IndexStorageError)
    async def _storage(request: Request, exc: IndexStorageError) -> JSONResponse:
        return _error(503, safe_text(exc))

    @app.exception_handler(ColdkitError)
    async def _coldkit(request: Request, exc: ColdkitError) -> JSONResponse:
        return _error(400, safe_text(exc))

    @app.get("/health", response_model=HealthOut)
    def health() -> dict[str, Any]:
        index = current()  # one index per request (a follower may swap in a fresh one meanwhile)
        # the directory's name only: an absolute path tells a client about the server's file system
        return {"status": "ok", **index.stats(), **({"reranker": rerank_with[0]} if rerank_with else {}), "read_only": index.read_only,
                "path": None if index.path is None else os.path.basename(index.path),
                "build_notes": list(index.build_notes)}

    @app.post("/recommend", response_model=RecommendOut)
    def recommend(body: RecommendIn) -> dict[str, Any]:
        index = current()
        c = body.constraints or ConstraintsIn.model_validate({})
        options: dict[str, Any] = {}
        if c.relax_order is not None:
            options["relax_order"] = tuple(c.relax_order)
        result = index.recommend(
            body.user_id, text=body.text, history=body.history, k=body.k, candidates=body.candidates,
            exclude=c.exclude, exclude_known=body.exclude_known, max_per_category=c.max_per_category,
            min_new_share=float(c.min_new_share), mmr_lambda=None if c.mmr_lambda is None else float(c.mmr_lambda),
            explain=body.explain, user_vector=body.user_vector, **options, **reranker_args,
        )
        return {
            "items": [item.__dict__ for item in result.items],
            "relaxed": result.relaxed,
            "sources": result.sources,
            "version": result.version,
            "unknown_categories": result.unknown_categories,
        }

    @app.get("/vectors")
    def vectors(
        offset: int = Query(0, ge=0), limit: int = Query(1000, ge=1, le=MAX_VECTORS_PAGE)
    ) -> dict[str, Any]:
        """The items' fold-in vectors, a page at a time: a device sums its clicks' rows into ``user_vector``."""
        index = current()
        v = index.version  # one version for the page, its size and its number
        ids, rows = index.foldin_vectors(offset, limit, version=v)
        return {"ids": ids, "vectors": rows.tolist(), "dim": int(v.cf.shape[1]),
                "offset": offset, "total": v.n_live_items, "version": v.number}

    @app.get("/items/{item_id}")
    def item(item_id: str = Path(..., max_length=256)) -> dict[str, Any]:
        index = current()
        info = index.item_info(item_id)
        if info.get("image"):
            info["image"] = media.shown(info["image"])
        return info

    @app.get("/items/{item_id}/similar")
    def similar(item_id: str = Path(..., max_length=256), k: int = Query(10, ge=1, le=MAX_K)) -> dict[str, Any]:
        index = current()
        return {"item": item_id, "items": [i.__dict__ for i in index.similar_items(item_id, k)], "version": index.version.number}

    @app.post("/items", dependencies=write)
    def upsert_items(body: ItemsIn) -> dict[str, Any]:
        index = current()
        items = body.items
        if len(items) > max_items_per_request:
            raise InvalidInputError(f"at most {max_items_per_request} items per request, got {len(items)}")
        records = [i.model_dump() for i in items]
        for record in records:
            # an empty path is no image, as in the Python API and the item file ("" resolved to the root: "image
            # '<media root>' is a directory")
            for field in ("image", "audio"):
                if isinstance(record[field], str) and not record[field].strip():
                    record[field] = None
            if record["image"] is not None:
                record["image"] = media.resolve(record["image"], record["id"])
            if record["audio"] is not None:
                record["audio"] = media.resolve(record["audio"], record["id"], "audio")
            else:
                del record["audio"]  # the index's write log keeps its old shape for image/text items
        try:
            result = index.upsert_items(records)
        except InvalidInputError as exc:
            raise InvalidInputError(media.hide(str(exc))) from None  # e.g. an unreadable image: no server paths
        return {"items": result, "version": index.version.number}

    @app.delete("/items/{item_id}", dependencies=write)
    def delete_item(item_id: str = Path(..., max_length=256)) -> dict[str, Any]:
        index = current()
        index.delete_items([item_id])
        return {"id": item_id, "deleted": True, "version": index.version.number}

    @app.post("/interactions", dependencies=write)
    def interactions(body: InteractionsIn) -> dict[str, Any]:
        index = current()
        events = body.events
        if len(events) > 10 * max_items_per_request:
            raise InvalidInputError(f"at most {10 * max_items_per_request} events per request, got {len(events)}")
        stats = index.add_interactions([(e.user_id, e.item_id) for e in events])
        return {**stats, "version": index.version.number}

    @app.post("/users", dependencies=write)
    def upsert_user(body: UserIn) -> dict[str, Any]:
        index = current()
        result = index.upsert_user(body.id, text=body.text, items=body.items)
        return {**result, "version": index.version.number}

    @app.post("/snapshot", dependencies=write)
    def snapshot() -> dict[str, Any]:
        index = current()
        if index.read_only:
            raise ReadOnlyIndexError("this server opened the index read-only; the writer process snapshots it")
        if index.path is None:
            raise HTTPException(409, "this index has no directory to snapshot into; save it with coldkit.serving.save first")
        number = index.version.number
        snap = save(index, index.path)
        return {"snapshot": snap.name, "path": os.path.basename(index.path), "version": number}

    return app


def check_token(token: str, what: str) -> str:
    """``token`` when a client can send it in an ``Authorization`` header, else InvalidInputError naming
    ``what`` (where the token came from: ``--token``, ``--token-file PATH``, ``$COLDKIT_TOKEN``...).

    HTTP strips the ends of a header value and carries no non-ASCII text reliably: such a token could
    never be sent, so the server would answer every write 403 to a client holding the right one.
    """
    if token != token.strip() or not all(" " <= c < "\x7f" for c in token):
        raise InvalidInputError(
            f"{what} must be printable ASCII without whitespace at its ends (an HTTP header strips "
            "the ends and carries no other characters reliably), so no client could send this one"
        )
    return token


def _env_token() -> str | None:
    """``$COLDKIT_TOKEN`` without the whitespace at its ends (None: unset or empty, writes are open).

    A secret read from a file often ends in a newline or CR, which no client can send in a header
    (HTTP strips it): kept, every write was answered 403 to the right token. A value of whitespace
    only is refused: the operator meant to set a token, and treating it as none would open the writes.
    """
    value = os.environ.get(TOKEN_ENV)
    if not value:
        return None
    if not value.strip():
        raise InvalidInputError(f"${TOKEN_ENV} holds only whitespace; set it to the token, or unset it to serve writes without one")
    return check_token(value.strip(), f"${TOKEN_ENV}")


def app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` with several worker processes (read-only, see ``coldkit serve``)."""
    path = os.environ.get(PATH_ENV)
    if not path:
        raise RuntimeError(f"set {PATH_ENV} to the index directory")
    options = os.environ.get(RERANKER_OPTIONS_ENV)
    return create_app(path, read_only=True, max_body_bytes=int(os.environ.get("COLDKIT_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
                      media_root=os.environ.get(MEDIA_ROOT_ENV) or None, mmap=os.environ.get(MMAP_ENV, "1") != "0",
                      reranker=os.environ.get(RERANKER_ENV) or None, reranker_options=json.loads(options) if options else None)
