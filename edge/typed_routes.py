"""Typed routes on plain Starlette, with their OpenAPI description: what a unit's page needs from a web framework.

The lane's tablet used FastAPI for this. FastAPI's own OpenAPI models alone cost a lane 11 MB of RSS when it is
imported (a 2 GB Pi runs the lane, the camera and the OS), and the tablet needs only this much of it:

- A handler says what it needs in its signature. ``request: Request``. ``Annotated[T, Use(fn)]``: the value of
  ``fn(request)``; these run first, in order, so a sign-in check refuses before any input is looked at.
- A name in the path template is a path value; any other plain value is a query value (a default makes it
  optional). Constraints come from pydantic in the same ``Annotated`` (``StringConstraints``, ``Field``).
- At most one pydantic model: the JSON body.
- What is wrong is collected and raised as one `BadInput`: FastAPI's 422 shape, ``loc`` starting with ``path``,
  ``query`` or ``body``, never the input itself.
- A handler returns a `Response`, or plain data sent as JSON.

`edge.openapi_doc` describes the routes as OpenAPI 3.1 from the same signatures, so the description and the
checks cannot drift.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Handler = Callable[..., Awaitable[Any]]
Model = TypeVar("Model", bound=BaseModel)
_PATH_NAME = re.compile(r"\{(\w+)(?::\w+)?\}")
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


@dataclass(frozen=True)
class Use:
    """A value computed from the request before the handler runs (the lane, the signed-in inspector)."""

    dependency: Callable[[Request], Any]


class BadInput(Exception):
    """Path, query or body values that do not fit: each as ``{"loc", "msg", "type"}``, as FastAPI gives them."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} bad input value(s)")
        self._errors = errors

    def errors(self) -> list[dict[str, Any]]:
        return self._errors


class Source(StrEnum):
    """Where a handler's argument comes from."""

    REQUEST = "request"
    USE = "use"
    PATH = "path"
    QUERY = "query"
    BODY = "body"


@dataclass(frozen=True)
class Param:
    """One parameter of a handler and where its value comes from."""

    name: str
    source: Source
    adapter: TypeAdapter[Any] | None = None  # path and query values
    default: Any = inspect.Parameter.empty
    use: Use | None = None
    model: type[BaseModel] | None = None  # the body

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


def _param(name: str, hint: Any, default: Any, path_names: set[str]) -> Param:
    if hint is Request:
        return Param(name, Source.REQUEST)
    use = next((m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Use)), None)
    if use is not None:
        return Param(name, Source.USE, use=use)
    if inspect.isclass(hint) and issubclass(hint, BaseModel):
        return Param(name, Source.BODY, model=hint)
    source = Source.PATH if name in path_names else Source.QUERY
    return Param(name, source, adapter=TypeAdapter(hint), default=default)


def plan(handler: Handler, path: str) -> tuple[Param, ...]:
    """Where each of the handler's parameters comes from, read once from its signature."""
    hints = typing.get_type_hints(handler, include_extras=True)
    path_names = set(_PATH_NAME.findall(path))
    params = tuple(
        _param(name, hints[name], p.default, path_names) for name, p in inspect.signature(handler).parameters.items()
    )
    if sum(p.source is Source.BODY for p in params) > 1:
        raise TypeError(f"{handler.__name__}: at most one body model")
    missing = path_names - {p.name for p in params if p.source is Source.PATH}
    if missing:
        raise TypeError(f"{handler.__name__}: path values {sorted(missing)} are not parameters")
    return params


def _errors(exc: ValidationError, *where: str | int) -> list[dict[str, Any]]:
    return [
        {**e, "loc": (*where, *e["loc"])}
        for e in exc.errors(include_input=False, include_url=False, include_context=False)
    ]


def _value(param: Param, raw: str | None) -> tuple[Any, list[dict[str, Any]]]:
    assert param.adapter is not None
    if raw is None:
        if param.required:
            return None, [{"loc": (param.source.value, param.name), "msg": "Field required", "type": "missing"}]
        return param.default, []
    try:
        return param.adapter.validate_python(raw), []
    except ValidationError as exc:
        return None, _errors(exc, param.source.value, param.name)


def _not_json(msg: str) -> list[dict[str, Any]]:
    return [{"loc": ("body",), "msg": msg, "type": "json_invalid"}]


async def json_body(request: Request, model: type[Model], *, empty: Any = None) -> Model:
    """The body as ``model``; ``empty`` stands for no body at all (None: the body is required). Raises `BadInput`."""
    raw = await request.body()
    if not raw.strip():
        if empty is None:
            raise BadInput([{"loc": ("body",), "msg": "Field required", "type": "missing"}])
        data = empty
    else:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind and not _JSON_TYPE.match(kind):
            raise BadInput(_not_json(f"a {kind[:40]} body, not JSON"))
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the parser's depth
            raise BadInput(_not_json("JSON decode error")) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadInput(_errors(exc, "body")) from None


async def arguments(params: Iterable[Param], request: Request) -> dict[str, Any]:
    """The handler's arguments: the `Use` values first (they may refuse), then every input value checked."""
    params = tuple(params)
    values: dict[str, Any] = {}
    for p in params:
        if p.source is Source.REQUEST:
            values[p.name] = request
        elif p.source is Source.USE:
            assert p.use is not None
            values[p.name] = p.use.dependency(request)
    errors: list[dict[str, Any]] = []
    for p in params:
        if p.source in (Source.PATH, Source.QUERY):
            raw = request.path_params.get(p.name) if p.source is Source.PATH else request.query_params.get(p.name)
            values[p.name], wrong = _value(p, raw)
            errors += wrong
    for p in params:
        if p.source is Source.BODY and not errors:
            assert p.model is not None
            values[p.name] = await json_body(request, p.model)
    if errors:
        raise BadInput(errors)
    return values


async def bad_input_answer(request: Request, exc: Exception) -> Response:
    """A page's plain answer to `BadInput` (the lane's tablet words its own): 422 with FastAPI's ``detail``."""
    assert isinstance(exc, BadInput)
    return JSONResponse({"detail": exc.errors()}, status_code=422)


def as_response(result: Any) -> Response:
    return result if isinstance(result, Response) else JSONResponse(result)


class TypedRoute(Route):
    """A Starlette route whose handler takes typed arguments (see the module's docstring)."""

    def __init__(
        self,
        path: str,
        handler: Handler,
        method: str,
        *,
        include_in_schema: bool = True,
        openapi_extra: dict[str, Any] | None = None,
        html: bool = False,
    ) -> None:
        self.handler = handler
        self.params = plan(handler, path)
        self.openapi_extra = openapi_extra or {}
        self.html = html
        params = self.params

        async def endpoint(request: Request) -> Response:
            return as_response(await handler(**await arguments(params, request)))

        endpoint.__name__ = handler.__name__
        super().__init__(path, endpoint, methods=[method], name=handler.__name__, include_in_schema=include_in_schema)
        self.methods = {method}  # Starlette adds HEAD to a GET; answering it would run the handler (a stream too)


@dataclass
class Router:
    """The routes of one area of a page, in the order they are matched."""

    routes: list[TypedRoute] = field(default_factory=list)

    def route(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            self.routes.append(TypedRoute(path, handler, method, **options))
            return handler

        return add

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)
