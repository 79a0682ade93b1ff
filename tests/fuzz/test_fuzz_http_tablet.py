"""The inspector tablet's HTTP API, fuzzed with schemathesis from its own OpenAPI description.

One real lane for the module: its config and journal, the simulated boards running the real firmware, a
real TLS Mosquitto and the real cloud bridge, and one open case with real partner records (so that requests
naming a case reach the case machine, not only its 404). Each operation is called with a signed-in
inspector's session, with data that fits the schema and with data that does not; no answer is a 5xx, and
every answer whose status the schema declares has the declared shape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from fuzz_helpers import api_operations, budget, count, raw_requests
from hypothesis import given
from hypothesis import strategies as st
from lane_cloud import RealCloud
from lane_helpers import lane_config, wait_until
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import response_schema_conformance

from edge.broker import MosquittoBroker
from firmware.sim.server import SimBoardServer
from lane_controller.hardware import BoardHardware
from lane_controller.runtime import Lane
from lane_controller.vin_camera import VinReading
from lane_controller.web import create_app

pytestmark = [pytest.mark.fuzz, pytest.mark.broker]

CHECKS = [not_a_server_error, response_schema_conformance]


class LaneForTheModule:
    """The tablet app, whose lane starts with the first ASGI lifespan and runs until `stop()`.

    Schemathesis runs an ASGI app's lifespan on its own event loop (where it then serves the requests) and its
    pytest plugin ends every lifespan after each test; the lane, which lives on that loop, must outlive them.
    """

    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self.app = create_app(lane, manage_lifecycle=False)
        self.started = False
        self.stopping = False

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if not self.started:
                    await self.lane.start()
                    self.started = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.stopping and self.started:
                    await self.lane.stop()
                    self.started = False
                await send({"type": "lifespan.shutdown.complete"})
                return

    def stop(self) -> None:
        self.stopping = True
        with schemathesis.python.asgi.get_client(self):  # a lifespan to end (the plugin ended the last test's)
            pass
        shutdown_lifespans()
        self.app.state.sessions.close()


@pytest.fixture(scope="module")
def tablet_lane(tmp_path_factory: pytest.TempPathFactory, site_pki) -> Iterator[SimpleNamespace]:
    tmp = tmp_path_factory.mktemp("tablet")
    broker = MosquittoBroker(site_pki, tmp / "broker")
    broker.start()
    cloud = RealCloud(tmp / "bridge", broker, site_pki).start()
    try:
        with SimBoardServer("io-board", time_scale=50) as io, SimBoardServer("plate-issuer", time_scale=50) as issuer:
            cfg = lane_config(
                tmp, broker, site_pki, io_url=io.url, issuer_url=issuer.url, authority=cloud.settings.authorities[0]
            )
            lane = Lane(cfg, hardware=BoardHardware(io.url, issuer.url, poll_s=0.2), reader=VinReading(load=False))
            served = LaneForTheModule(lane)
            try:
                yield SimpleNamespace(
                    app=served, sessions=served.app.state.sessions, lane=lane, cloud=cloud, case_ids=[]
                )
            finally:
                served.stop()
    finally:
        cloud.stop()
        broker.stop()


@pytest.fixture(scope="module")
def tablet_schema(tablet_lane: SimpleNamespace) -> Any:
    """The app's OpenAPI description (served to signed-in inspectors only), with one real open case to name."""
    app, lane = tablet_lane.app, tablet_lane.lane
    token = tablet_lane.sessions.issue("insp-1", "fuzz")
    tablet_lane.auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, headers=tablet_lane.auth
    )  # starts the app's lifespan: the lane
    schema.config.max_stream_events = 1  # /api/stream answers with an endless event stream: read its first event
    wait_until(lambda: lane.overview()["cloud_connected"], 20, "the lane connected to the cloud")
    client = schemathesis.python.asgi.get_client(app)
    owner = tablet_lane.cloud.good[0].owner_id_number
    opened = client.post(
        "http://testserver/api/cases", json={"station": "A", "id_number": owner}, headers=tablet_lane.auth
    )
    assert opened.status_code == 200, opened.text
    tablet_lane.case_ids.append(opened.json()["case"]["case_id"])
    wait_until(lambda: lane.case_view(tablet_lane.case_ids[0])["stage"] == "records_fetched", 20, "partner records")

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy:
        """Half the requests that name a case name the real open one."""
        if not isinstance(path_parameters, dict) or "case_id" not in path_parameters:
            return st.just(path_parameters)
        return st.sampled_from([path_parameters, {**path_parameters, "case_id": tablet_lane.case_ids[0]}])

    return schema


def tablet_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the tablet's OpenAPI description, from its routers (known before any lane runs)."""
    from lane_controller.web import ROUTERS

    return api_operations(r for router in ROUTERS for r in router.routes)


@pytest.mark.parametrize(("method", "path"), tablet_operations(), ids=[f"{m} {p}" for m, p in tablet_operations()])
def test_the_tablet_answers_any_request_without_a_server_error_and_as_its_schema_declares(
    tablet_schema, tablet_lane, method, path
):
    operation = tablet_schema[path][method]
    statuses: Counter[int] = Counter()

    @budget(ci=8, long=300)
    @given(st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)))
    def call(case):
        count()
        response = case.call_and_validate(headers=tablet_lane.auth, checks=CHECKS)
        statuses[response.status_code] += 1
        if method == "DELETE" and path == "/api/session":  # the fuzzer signed our inspector out: sign in again
            tablet_lane.auth["Authorization"] = "Bearer " + tablet_lane.sessions.issue("insp-1", "fuzz")

    call()
    assert statuses[401] < sum(statuses.values()) or path == "/api/session", (
        f"only refusals for want of a session: {statuses}"
    )


def test_any_bytes_in_any_content_type_to_any_operation_is_not_a_server_error(tablet_schema, tablet_lane):
    """What schemathesis does not send: bodies that are not JSON, in content types the operation does not take, signed in or not."""
    client = schemathesis.python.asgi.get_client(tablet_lane.app)
    operations = [
        o for o in tablet_operations() if o != ("GET", "/api/stream")
    ]  # an endless event stream (fuzzed above, one event)

    @budget(ci=80, long=5_000)
    @given(raw_requests(operations, {"case_id": tablet_lane.case_ids[0]}), st.booleans())
    def send(request, signed_in):
        count()
        method, url, body, headers = request
        r = client.request(
            method, url, data=body, headers=headers | (tablet_lane.auth if signed_in else {}), allow_redirects=False
        )
        assert r.status_code < 500, (method, url[:200], r.status_code, r.text[:300])
        if method == "DELETE" and url.startswith("/api/session"):
            tablet_lane.auth["Authorization"] = "Bearer " + tablet_lane.sessions.issue("insp-1", "fuzz")

    send()


@pytest.mark.parametrize("attempted", ["\x1b" * 20, "\\" * 40, "\u202e" * 13 + "x" * 20])
def test_a_sign_in_whose_id_grows_past_64_characters_when_made_printable_is_refused_not_a_500(
    tablet_schema, tablet_lane, attempted
):
    """Found by the POST /api/session target: the journaled attempt, escaped and cut to 64 characters plus '…', was 65
    characters, over the event's actor limit; journaling it failed and the public sign-in answered 500."""
    r = schemathesis.python.asgi.get_client(tablet_lane.app).post(
        "http://testserver/api/session", json={"inspector_id": attempted, "pin": "1"}
    )
    assert r.status_code in (401, 429), (r.status_code, r.text[:200])
