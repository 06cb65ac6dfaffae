"""The demo CSMS, run as a real process and driven by real OCPP 1.6 / 2.0.1 clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.procs import PYTHON, ManagedProcess, free_port, managed, port_open, wait_until

# one worker runs this module: its tests share a module-scoped fixture
pytestmark = pytest.mark.xdist_group("demo_csms")


@dataclass
class Csms:
    proc: ManagedProcess
    ws_url: str
    api_url: str
    log: Path

    def journal(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@contextlib.contextmanager
def run_csms(tmp: Path, *args: str) -> Iterator[Csms]:
    ws_port, api_port = free_port(), free_port()
    log = tmp / "csms.jsonl"
    cmd = [PYTHON, "-m", "cp_simu.csms", "--port", str(ws_port), "--api-port", str(api_port),
           "--log", str(log), *args]
    with managed(cmd, log=tmp / "csms.out") as proc:
        wait_until(lambda: port_open(ws_port) and port_open(api_port), what="the CSMS ports")
        yield Csms(proc, f"ws://127.0.0.1:{ws_port}/ocpp", f"http://127.0.0.1:{api_port}/api", log)


@pytest.fixture(scope="module")
def csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Csms]:
    with run_csms(tmp_path_factory.mktemp("csms"), "--heartbeat-interval", "42",
                  "--reject-prefix", "BAD", "--reject-prefix", "STOLEN") as c:
        yield c


def _http(method: str, url: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def http(method: str, url: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    return await asyncio.to_thread(_http, method, url, body)


class Client16(Cp16):
    """A 1.6 charge point that accepts remote starts and answers slowly to UnlockConnector."""

    @on(Action16.remote_start_transaction)
    def on_remote_start(self, id_tag: str, **_: Any) -> result16.RemoteStartTransaction:
        self.remote_tag = id_tag
        return result16.RemoteStartTransaction(status="Accepted")

    @on(Action16.unlock_connector)
    async def on_unlock(self, connector_id: int) -> result16.UnlockConnector:
        await asyncio.sleep(1.5)
        return result16.UnlockConnector(status="Unlocked")


class Client201(Cp201):
    @on(Action201.request_start_transaction)
    def on_request_start(self, id_token: dict[str, Any], remote_start_id: int,
                         **_: Any) -> result201.RequestStartTransaction:
        return result201.RequestStartTransaction(status="Accepted", transaction_id="TX-9")


@contextlib.asynccontextmanager
async def client(cls: type[Cp16 | Cp201], csms: Csms, cp_id: str) -> AsyncIterator[Any]:
    subprotocol = "ocpp1.6" if issubclass(cls, Cp16) else "ocpp2.0.1"
    async with connect(f"{csms.ws_url}/{cp_id}", subprotocols=[subprotocol]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == subprotocol
        cp = cls(cp_id, ws, response_timeout=5)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def boot16() -> call16.BootNotification:
    return call16.BootNotification(charge_point_vendor="Test", charge_point_model="Sim16")


def boot201() -> call201.BootNotification:
    return call201.BootNotification(charging_station={"vendor_name": "Test", "model": "Sim201"},
                                    reason="PowerUp")


async def test_ocpp16_boot_authorize_and_transactions(csms: Csms) -> None:
    async with client(Client16, csms, "CP16_A") as cp:
        boot = await cp.call(boot16())
        assert (boot.status, boot.interval) == ("Accepted", 42)
        assert (await cp.call(call16.Heartbeat())).current_time
        await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Available"))

        good = await cp.call(call16.Authorize(id_tag="TAG_OK"))
        assert good.id_tag_info["status"] == "Accepted"
        for bad_tag in ("BAD_1", "STOLEN9"):
            bad = await cp.call(call16.Authorize(id_tag=bad_tag))
            assert bad.id_tag_info["status"] == "Invalid"

        started = [await cp.call(call16.StartTransaction(connector_id=1, id_tag=tag, meter_start=100,
                                                         timestamp="2024-01-01T00:00:00Z"))
                   for tag in ("TAG_OK", "BAD_2")]
        ids = [s.transaction_id for s in started]
        assert ids[0] >= 1 and ids[1] == ids[0] + 1
        assert [s.id_tag_info["status"] for s in started] == ["Accepted", "Invalid"]

        stop = await cp.call(call16.StopTransaction(meter_stop=600, timestamp="2024-01-01T01:00:00Z",
                                                    transaction_id=ids[0], id_tag="TAG_OK"))
        assert stop.id_tag_info["status"] == "Accepted"
        assert (await cp.call(call16.MeterValues(connector_id=1, meter_value=[
            {"timestamp": "2024-01-01T00:00:30Z", "sampled_value": [{"value": "150"}]}]))) is not None
        dt = await cp.call(call16.DataTransfer(vendor_id="Test", message_id="hello", data="x"))
        assert dt.status == "Accepted"
        await cp.call(call16.DiagnosticsStatusNotification(status="Idle"))
        await cp.call(call16.FirmwareStatusNotification(status="Idle"))

        status, body = await http("GET", f"{csms.api_url}/transactions?cp_id=CP16_A")
        assert status == 200
        txs = {t["transaction_id"]: t for t in body["transactions"]}
        assert txs[ids[0]]["active"] is False and txs[ids[0]]["meter_stop"] == 600
        assert txs[ids[1]]["active"] is True

        status, body = await http("GET", f"{csms.api_url}/cps/CP16_A")
        assert status == 200
        assert body["cp"]["boot_status"] == "Accepted" and body["cp"]["connectors"] == {"1": "Available"}


async def test_ocpp201_boot_authorize_and_transaction_event(csms: Csms) -> None:
    async with client(Client201, csms, "CS201_A") as cp:
        boot = await cp.call(boot201())
        assert (boot.status, boot.interval) == ("Accepted", 42)
        await cp.call(call201.Heartbeat())
        await cp.call(call201.StatusNotification(timestamp="2024-01-01T00:00:00Z",
                                                 connector_status="Available", evse_id=1, connector_id=1))
        ok = await cp.call(call201.Authorize(id_token={"id_token": "TAG_OK", "type": "ISO14443"}))
        assert ok.id_token_info["status"] == "Accepted"
        bad = await cp.call(call201.Authorize(id_token={"id_token": "BAD9", "type": "ISO14443"}))
        assert bad.id_token_info["status"] == "Invalid"

        started = await cp.call(call201.TransactionEvent(
            event_type="Started", timestamp="2024-01-01T00:00:00Z", trigger_reason="Authorized",
            seq_no=0, transaction_info={"transaction_id": "T-201"}, evse={"id": 1, "connector_id": 1},
            id_token={"id_token": "BAD7", "type": "ISO14443"}))
        assert started.id_token_info["status"] == "Invalid"
        ended = await cp.call(call201.TransactionEvent(
            event_type="Ended", timestamp="2024-01-01T00:01:00Z", trigger_reason="Deauthorized",
            seq_no=1, transaction_info={"transaction_id": "T-201", "stopped_reason": "DeAuthorized"}))
        assert ended.id_token_info is None
        await cp.call(call201.NotifyReport(request_id=1, generated_at="2024-01-01T00:00:00Z", seq_no=0))
        await cp.call(call201.FirmwareStatusNotification(status="Idle"))
        await cp.call(call201.LogStatusNotification(status="Idle"))
        await cp.call(call201.MeterValues(evse_id=1, meter_value=[
            {"timestamp": "2024-01-01T00:00:30Z", "sampled_value": [{"value": 12.5}]}]))

        _, body = await http("GET", f"{csms.api_url}/transactions?cp_id=CS201_A")
        [tx] = body["transactions"]
        assert tx["transaction_id"] == "T-201" and tx["stop_reason"] == "DeAuthorized"
        assert tx["active"] is False and tx["connector_id"] == 1


async def test_json_log_records_frames_and_connection_events(csms: Csms) -> None:
    async with client(Client16, csms, "CP16_LOG") as cp:
        await cp.call(boot16())
    records = wait_until(lambda: [r for r in csms.journal() if r.get("cp_id") == "CP16_LOG"],
                         what="log lines")
    wait_until(lambda: any(r.get("event") == "disconnected" and r["cp_id"] == "CP16_LOG"
                           for r in csms.journal()), what="the disconnected event")
    records = [r for r in csms.journal() if r.get("cp_id") == "CP16_LOG"]
    assert records[0]["event"] == "connected" and records[0]["subprotocol"] == "ocpp1.6"
    call_in, result_out = (r for r in records if "message_type" in r)
    assert call_in["direction"] == "in" and call_in["message_type"] == "call"
    assert call_in["action"] == "BootNotification" and call_in["ocpp_version"] == "1.6"
    assert call_in["payload"] == {"chargePointVendor": "Test", "chargePointModel": "Sim16"}
    assert result_out["direction"] == "out" and result_out["message_type"] == "call_result"
    assert result_out["action"] == "BootNotification"
    assert result_out["unique_id"] == call_in["unique_id"]
    assert result_out["payload"]["status"] == "Accepted" and result_out["time"].endswith("Z")
    assert "CP16_LOG" in csms.proc.output() and "BootNotification" in csms.proc.output()


async def test_bad_subprotocol_or_id_is_refused(csms: Csms) -> None:
    root = csms.ws_url.removesuffix("ocpp")
    for url, subprotocols in [(f"{root}CP_X", ["ocpp2.1"]), (f"{root}CP_X", None),
                              (root, ["ocpp1.6"]), (f"{root}bad%20id", ["ocpp1.6"])]:
        with pytest.raises(InvalidStatus) as err:
            async with connect(url, subprotocols=subprotocols):  # type: ignore[arg-type]
                pass
        assert err.value.response.status_code == 400
    assert any(r.get("event") == "refused" and "subprotocol" in r["reason"] for r in csms.journal())


async def test_control_api_round_trip_16(csms: Csms) -> None:
    async with client(Client16, csms, "CP16_API") as cp:
        await cp.call(boot16())
        status, body = await http("GET", f"{csms.api_url}/cps")
        assert status == 200
        assert {"id": "CP16_API", "ocpp_version": "1.6"}.items() <= {
            c["id"]: c for c in body["cps"]}["CP16_API"].items()

        status, body = await http("POST", f"{csms.api_url}/cps/CP16_API/call/RemoteStartTransaction",
                                  {"connectorId": 1, "idTag": "T1"})
        assert (status, body["status"], body["response"]) == (200, "ok", {"status": "Accepted"})
        assert cp.remote_tag == "T1"

        out = [r for r in csms.journal() if r.get("cp_id") == "CP16_API"
               and r.get("action") == "RemoteStartTransaction"]
        assert [(r["direction"], r["message_type"]) for r in out] == [("out", "call"), ("in", "call_result")]
        assert out[0]["payload"] == {"connectorId": 1, "idTag": "T1"}

        # The CP has no handler for Reset: its CallError comes back as a 502.
        status, body = await http("POST", f"{csms.api_url}/cps/CP16_API/call/Reset", {"type": "Soft"})
        assert status == 502 and body["error"] == "call_error" and body["error_code"] == "NotImplemented"
        # Schema violation and unknown action never reach the CP.
        status, body = await http("POST", f"{csms.api_url}/cps/CP16_API/call/RemoteStartTransaction",
                                  {"connectorId": 1})
        assert status == 400 and body["error"] == "invalid_payload"
        status, body = await http("POST", f"{csms.api_url}/cps/CP16_API/call/FlyToTheMoon", {})
        assert status == 400 and body["error"] == "unknown_action"
        status, body = await http("POST", f"{csms.api_url}/cps/CP16_API/call/UnlockConnector?timeout=0.3",
                                  {"connectorId": 1})
        assert status == 502 and body["error"] == "timeout"

        _, body = await http("GET", f"{csms.api_url}/messages?cp_id=CP16_API&action=Reset")
        assert [m["message_type"] for m in body["messages"]] == ["call", "call_error"]


async def test_control_api_round_trip_201_and_errors(csms: Csms) -> None:
    async with client(Client201, csms, "CS201_API") as cp:
        await cp.call(boot201())
        status, body = await http("POST", f"{csms.api_url}/cps/CS201_API/call/RequestStartTransaction",
                                  {"idToken": {"idToken": "T2", "type": "ISO14443"}, "remoteStartId": 7})
        assert status == 200 and body["response"] == {"status": "Accepted", "transactionId": "TX-9"}
    status, body = await http("POST", f"{csms.api_url}/cps/NOBODY/call/Reset", {"type": "Soft"})
    assert status == 404 and body["error"] == "unknown_cp"
    status, _ = await http("GET", f"{csms.api_url}/nope")
    assert status == 404
    status, _ = await http("DELETE", f"{csms.api_url}/cps")
    assert status == 405


async def test_pending_boot_then_accepted_and_clean_sigterm(tmp_path: Path) -> None:
    with run_csms(tmp_path, "--boot-status", "Pending", "--pending-boots", "1",
                  "--boot-retry-interval", "3") as c:
        async with client(Client16, c, "CP_PENDING") as cp:
            first = await cp.call(boot16())
            assert (first.status, first.interval) == ("Pending", 3)
            second = await cp.call(boot16())
            assert (second.status, second.interval) == ("Accepted", 300)
            c.proc.signal(signal.SIGTERM)
            assert await asyncio.to_thread(c.proc.wait, 10) == 0


async def test_reconnect_with_same_id_replaces_the_old_connection(csms: Csms) -> None:
    # Entered in order: the 1.6 connection exists before the 2.0.1 one takes its id over.
    async with (connect(f"{csms.ws_url}/CP_TWICE", subprotocols=["ocpp1.6"]) as old,  # type: ignore[list-item]
                client(Client201, csms, "CP_TWICE") as cp):
        await old.wait_closed()
        assert old.close_code == 1000
        await cp.call(boot201())
        _, body = await http("GET", f"{csms.api_url}/cps")
        [entry] = [c for c in body["cps"] if c["id"] == "CP_TWICE"]
        assert entry["ocpp_version"] == "2.0.1"


async def test_fast_mode_prints_no_message_lines_and_still_journals(tmp_path: Path) -> None:
    """`--fast` (large fleets): nothing per message on stdout, the JSON journal in batches."""
    with run_csms(tmp_path, "--fast") as c:
        async with client(Client16, c, "CP_FAST") as cp:
            assert (await cp.call(boot16())).status == "Accepted"
            await cp.call(call16.Heartbeat())
            await asyncio.to_thread(wait_until, lambda: [r.get("action") for r in c.journal()
                                                         if r.get("direction") == "in"]
                                    == ["BootNotification", "Heartbeat"], 5, what="the batched journal")
            assert "BootNotification" not in c.proc.output() and "CP_FAST" not in c.proc.output()
            assert "demo CSMS listening" in c.proc.output()


async def _server_pings(ws_url: str, seconds: float) -> int:
    """Pings the CSMS sends over `seconds` on one connection (the client never pings)."""
    frames: list[str] = []

    class Frames(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            frames.append(record.getMessage())

    logger = logging.getLogger(f"test-csms-pings-{free_port()}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(Frames())
    async with connect(f"{ws_url}/CP_PINGED", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                       ping_interval=None, logger=logger):
        await asyncio.sleep(seconds)
    return sum(1 for f in frames if f.startswith("< PING"))


async def test_ping_interval_sets_the_csms_pings(tmp_path: Path) -> None:
    with run_csms(tmp_path, "--ping-interval", "0.25") as c:
        assert await _server_pings(c.ws_url, 1.5) >= 3
        assert "WebSocket pings from the CSMS every 0.25 s" in c.proc.output()


async def test_fast_mode_leaves_the_pings_to_the_charge_points(tmp_path: Path) -> None:
    """At 10,000 connections the server's own pings cost more than the heartbeats: --fast sends
    none (the charge points ping), unless --ping-interval asks for them."""
    with run_csms(tmp_path, "--fast") as c:
        assert await _server_pings(c.ws_url, 1.0) == 0
        assert "no WebSocket pings from the CSMS" in c.proc.output()
    (tmp_path / "again").mkdir()
    with run_csms(tmp_path / "again", "--fast", "--ping-interval", "0.25") as c:
        assert await _server_pings(c.ws_url, 1.0) >= 2


async def test_serves_more_charge_points_than_the_soft_open_file_limit(tmp_path: Path) -> None:
    """Most systems start a process with a soft limit of 1,024 open files (a far higher hard
    one): the CSMS lifts it, so its 300 connections fit under a soft limit of 200 here."""
    soft_limited = ["sh", "-c", 'ulimit -S -n 200 && exec "$@"', "sh"]
    ws_port = free_port()
    with managed([*soft_limited, PYTHON, "-m", "cp_simu.csms", "--port", str(ws_port), "--api-port", "0", "--fast"],
                 log=tmp_path / "csms.out") as proc:
        await asyncio.to_thread(wait_until, lambda: port_open(ws_port), what="the CSMS port")
        async with contextlib.AsyncExitStack() as stack:
            connections = await asyncio.gather(*(
                stack.enter_async_context(connect(f"ws://127.0.0.1:{ws_port}/CP_FD_{i}",
                                                  subprotocols=["ocpp1.6"]))  # type: ignore[list-item]
                for i in range(300)))
            assert [c.subprotocol for c in connections] == ["ocpp1.6"] * 300
            await connections[-1].send('[2,"1","Heartbeat",{}]')
            assert json.loads(await connections[-1].recv())[0] == 3
        assert "Too many open files" not in proc.output()


@pytest.mark.parametrize(("subprotocol", "known", "payload"), [
    ("ocpp1.6", "Reset", {"type": "Soft"}),
    ("ocpp2.0.1", "Reset", {"type": "Immediate"}),
], ids=["1.6", "2.0.1"])
async def test_unknown_and_unhandled_actions_get_the_ocpp_j_error_codes(
        csms: Csms, subprotocol: str, known: str, payload: dict[str, Any]) -> None:
    """An action its version lacks is NotImplemented; a known one the CSMS has no handler for
    (a CSMS → CP action sent to it) is NotSupported (the ocpp library alone swaps the two)."""
    async with connect(f"{csms.ws_url}/ROUTE_{subprotocol[4:].replace('.', '')}", subprotocols=[subprotocol]) as ws:  # type: ignore[list-item]
        answers = {}
        for unique_id, action, body in (("u-1", "WarpDrive", {}), ("u-2", known, payload)):
            await ws.send(json.dumps([2, unique_id, action, body]))
            answers[unique_id] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert answers["u-1"][:3] == [4, "u-1", "NotImplemented"]
    assert answers["u-2"][:3] == [4, "u-2", "NotSupported"]
    assert known in answers["u-2"][3]
