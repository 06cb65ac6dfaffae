"""`central_system` as a template: `{id}` where a CSMS wants the charge point id (path, trailing
slash, Basic-auth user), `<url>/<id>` without it; a password in the URL reaches the CSMS but
never chargepoint.log, ocpp.log or the retained status."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.launcher.conftest import BOOT_WAIT, TOPICS, definition
from tests.procs import wait_until

PASSWORD = "s3cr3t-Pa55"


@dataclass
class Handshake:
    path: str
    authorization: str | None


@dataclass
class RecordingCsms:
    """A WebSocket server that accepts every BootNotification and records each handshake."""

    server: Server
    port: int
    handshakes: list[Handshake] = field(default_factory=list)

    def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.handshakes.append(Handshake(ws.request.path, ws.request.headers.get("Authorization")))
        try:
            for frame in ws:
                message = json.loads(frame)
                if message[0] != 2:
                    continue
                payload = {"status": "Accepted", "interval": 300,
                           "currentTime": datetime.now(UTC).isoformat()} if message[2] == "BootNotification" else {}
                ws.send(json.dumps([3, message[1], payload]))
        except ConnectionClosed:
            pass


@pytest.fixture
def recording_csms() -> Iterator[RecordingCsms]:
    holder: list[RecordingCsms] = []
    with serve(lambda ws: holder[0].handle(ws), "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
        csms = RecordingCsms(server, server.socket.getsockname()[1])
        holder.append(csms)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield csms
        server.shutdown()
        thread.join(5)


@pytest.mark.parametrize("spawn_mode", ["fork", "subprocess"])
def test_id_template_with_basic_auth_reaches_the_csms_and_no_log(launcher_factory, recording_csms, spawn_mode):
    run = launcher_factory("--spawn-mode", spawn_mode)
    template = f"ws://{{id}}:{PASSWORD}@127.0.0.1:{recording_csms.port}/ws/ocpp/{{id}}/"
    run.start(definition("CP-1", template), definition("CP_2", f"ws://127.0.0.1:{recording_csms.port}/plain"))
    one = run.wait_status("CP-1", "Accepted", BOOT_WAIT)
    run.wait_status("CP_2", "Accepted", BOOT_WAIT)

    by_path = {h.path: h for h in recording_csms.handshakes}
    assert set(by_path) == {"/ws/ocpp/CP-1/", "/plain/CP_2"}
    assert by_path["/ws/ocpp/CP-1/"].authorization == "Basic " + base64.b64encode(
        f"CP-1:{PASSWORD}".encode()).decode()
    assert by_path["/plain/CP_2"].authorization is None

    assert one["central_system"] == f"ws://{{id}}:***@127.0.0.1:{recording_csms.port}/ws/ocpp/{{id}}/"
    published = {m.topic for m in run.rec.messages if PASSWORD.encode() in m.payload}
    assert published == {TOPICS.launcher_cmd}  # only the test's own start command carries it
    instance = run.instance("CP-1")
    wait_until(lambda: "connected to" in (instance / "chargepoint.log").read_text(), 5,
               what="the connection in chargepoint.log")
    log = (instance / "chargepoint.log").read_text()
    assert f"connected to ws://CP-1:***@127.0.0.1:{recording_csms.port}/ws/ocpp/CP-1/" in log
    for name in ("chargepoint.log", "ocpp.log"):
        assert PASSWORD not in (instance / name).read_text(), name
