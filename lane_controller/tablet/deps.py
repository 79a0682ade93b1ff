"""What every route may ask for (`edge.typed_routes.Use`): the lane, the tablet's language, the signed-in inspector."""

from __future__ import annotations

from typing import Annotated, Any

from starlette.requests import Request

from edge.typed_routes import Use
from lane_controller.i18n import language_of
from lane_controller.runtime import Lane
from lane_controller.tablet.errors import TabletError

COOKIE = "passlane_session"


def lane_of(request: Request) -> Lane:
    return request.app.state.lane


def language(request: Request) -> str:
    return language_of(request.cookies.get("lang"), request.app.state.lane.cfg.ui.language)


def session_token(request: Request) -> str | None:
    """A script's ``Authorization: Bearer`` token, else the browser's session cookie."""
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else request.cookies.get(COOKIE)


def signed_in(request: Request) -> dict[str, Any] | None:
    """The signed-in inspector ``{"id", "name", "exp"}``, or None (pages then send the browser to /login)."""
    return request.app.state.sessions.check(session_token(request))


def inspector(request: Request) -> str:
    """The signed-in inspector's id: every action is journaled under it. 401 without a live session."""
    who = signed_in(request)
    if who is None:
        raise TabletError(401, "err_sign_in_first")
    return str(who["id"])


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def over_tls(request: Request) -> bool:
    """Cookies are marked Secure when the tablet reached the lane over HTTPS."""
    return request.url.scheme == "https"


LaneDep = Annotated[Lane, Use(lane_of)]
Actor = Annotated[str, Use(inspector)]
Language = Annotated[str, Use(language)]


def case_view(lane: Lane, case_id: str) -> dict[str, Any]:
    """The full case (open, or closed from the journal); 404 when there is no such case."""
    try:
        return lane.case_view(case_id)
    except KeyError:
        raise TabletError(404, "err_no_such_case") from None
