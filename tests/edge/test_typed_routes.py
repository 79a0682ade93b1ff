"""Typed routes on Starlette (the tablet's web layer): where each argument comes from, what is refused and how, and
the OpenAPI description read from the same signatures."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from edge.openapi_doc import openapi_document
from edge.typed_routes import BadInput, Router, Use, bad_input_answer, plan


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, Field(min_length=1, max_length=10)]


def who(request: Request) -> str:
    if request.headers.get("x-who") is None:
        raise HTTPException(401, "who are you")
    return request.headers["x-who"]


Who = Annotated[str, Use(who)]
Code = Annotated[str, Field(pattern=r"^[0-9]{4}$", description="four digits")]
Limit = Annotated[int, Field(ge=1, le=50)]

router = Router()


@router.post("/notes/{code}")
async def add_note(code: Code, note: Note, actor: Who, limit: Limit = 10, order: Literal["new", "old"] = "new") -> Any:
    """Add a note to a code."""
    return {"code": code, "text": note.text, "actor": actor, "limit": limit, "order": order}


@router.get("/raw/{rest:path}", html=True)
async def raw(request: Request, rest: Annotated[str, Field(max_length=20)]) -> PlainTextResponse:
    return PlainTextResponse(f"{request.method} {rest}")


@router.get("/hidden", include_in_schema=False)
async def hidden() -> dict[str, bool]:
    return {"ok": True}


@pytest.fixture
def client() -> TestClient:
    app = Starlette(routes=router.routes, exception_handlers={BadInput: bad_input_answer})
    return TestClient(app)


def _locs(r: Any) -> list[list[Any]]:
    assert r.status_code == 422, r.text
    return [e["loc"] for e in r.json()["detail"]]


def test_each_argument_comes_from_its_place(client: TestClient) -> None:
    r = client.post("/notes/0111?limit=3&order=old", json={"text": "hi"}, headers={"x-who": "insp-1"})
    assert r.status_code == 200
    assert r.json() == {"code": "0111", "text": "hi", "actor": "insp-1", "limit": 3, "order": "old"}
    defaults = client.post("/notes/0111", json={"text": "hi"}, headers={"x-who": "a"}).json()
    assert defaults["limit"] == 10 and defaults["order"] == "new"
    assert client.get("/raw/a/b/c").text == "GET a/b/c"


def test_every_bad_path_and_query_value_is_named_and_the_input_is_not_echoed(client: TestClient) -> None:
    r = client.post("/notes/01x1?limit=99&order=sideways", json={"text": "hi"}, headers={"x-who": "a"})
    assert _locs(r) == [["path", "code"], ["query", "limit"], ["query", "order"]]
    assert "01x1" not in r.text and "sideways" not in r.text
    assert _locs(client.get("/raw/" + "x" * 21)) == [["path", "rest"]]


@pytest.mark.parametrize(
    ("body", "headers", "loc", "kind"),
    [
        (None, {}, ["body"], "missing"),
        (b"{nope", {"content-type": "application/json"}, ["body"], "json_invalid"),
        (b'{"text": "hi"}', {"content-type": "text/plain"}, ["body"], "json_invalid"),  # a form can send text/plain
        (b"[" * 5000, {"content-type": "application/json"}, ["body"], "json_invalid"),
        (b'{"text": ""}', {"content-type": "application/json"}, ["body", "text"], "string_too_short"),
        (b'{"text": "a", "x": 1}', {"content-type": "application/vnd.api+json"}, ["body", "x"], "extra_forbidden"),
        (b"null", {}, ["body"], "model_type"),
    ],
)
def test_a_bad_body_is_one_clear_422(
    client: TestClient, body: bytes | None, headers: dict, loc: list, kind: str
) -> None:
    r = client.post("/notes/0111", content=body, headers={"x-who": "a", **headers})
    assert _locs(r) == [loc] and r.json()["detail"][0]["type"] == kind


def test_a_dependency_refuses_before_any_input_is_looked_at(client: TestClient) -> None:
    assert client.post("/notes/bad?limit=0", content=b"{nope").status_code == 401


def test_a_get_route_does_not_answer_head(client: TestClient) -> None:
    assert client.head("/hidden").status_code == 405


def test_the_openapi_description_is_read_from_the_signatures() -> None:
    doc = openapi_document("t", "1", router.routes)
    assert set(doc["paths"]) == {"/notes/{code}", "/raw/{rest}"}  # the hidden route left out, ':path' dropped
    op = doc["paths"]["/notes/{code}"]["post"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["code"]["in"] == "path" and params["code"]["required"] is True
    assert params["code"]["schema"]["pattern"] == "^[0-9]{4}$" and params["code"]["description"] == "four digits"
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}
    assert params["order"]["schema"]["enum"] == ["new", "old"] and params["order"]["required"] is False
    assert "actor" not in params  # a dependency is not an input
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Note"}
    assert op["description"] == "Add a note to a code."
    assert set(op["responses"]) == {"200", "422"}
    assert doc["components"]["schemas"]["Note"]["properties"]["text"]["maxLength"] == 10
    assert set(doc["paths"]["/raw/{rest}"]["get"]["responses"]["200"]["content"]) == {"text/html"}


def test_a_handler_that_cannot_be_served_is_refused_when_it_is_declared() -> None:
    async def two_bodies(a: Note, b: Note) -> None: ...

    async def lost_path_value() -> None: ...

    with pytest.raises(TypeError, match="one body"):
        plan(two_bodies, "/x")
    with pytest.raises(TypeError, match="code"):
        plan(lost_path_value, "/x/{code}")


def test_the_lane_runs_without_fastapi() -> None:
    """FastAPI's own models cost a lane 11 MB of RSS; the tablet is built on Starlette alone."""
    probe = (
        "import sys, lane_controller.cli, lane_controller.web, lane_controller.runtime; print('fastapi' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
