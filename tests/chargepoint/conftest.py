"""End-to-end helpers: charge point processes, a restartable demo CSMS, its control API,
and a check that every frame a charge point sent validates against the OCPP 1.6 schemas."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import ocpp.v16
import ocpp.v201
import pytest
from jsonschema import Draft4Validator
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from cp_simu.config import SECTION_OCPP, SECTION_SIMULATION, load_config, update_section, write_instance_config
from cp_simu.models import ChargePointDefinition
from cp_simu.topics import Topics
from tests.conftest import Csms
from tests.procs import PYTHON, ManagedProcess, free_port, ocpp_simu, port_open, wait_until

T = Topics()
CAR = {"cable": 32.0, "ready": True, "consumption_l1": 16.0, "consumption_l2": 16.0, "consumption_l3": 16.0}
SCHEMAS = {"1.6": Path(ocpp.v16.__file__).parent / "schemas", "2.0.1": Path(ocpp.v201.__file__).parent / "schemas"}

# Short intervals so that end-to-end tests run in seconds.
FAST_OCPP = {"HeartbeatInterval": "300", "MeterValueSampleInterval": "0", "ConnectionTimeOut": "3",
             "TransactionMessageRetryInterval": "1"}
FAST_SIMULATION = {"reconnect_min": "0.3", "reconnect_max": "1", "status_refresh_interval": "0.5"}


@cache
def _validators(version: str, name: str) -> tuple[Validator, ...]:
    """The official schema of a 1.6 message (`BootNotification`, `BootNotificationResponse`) or
    of a 2.0.1 one (`BootNotificationRequest`, `BootNotificationResponse`), under its declared
    draft and under draft-04: a station writes integers as JSON integers (`1`, never the `1.0`
    that 2.0.1's draft-06 would let through), as the strictest CSMSs expect."""
    schema = json.loads((SCHEMAS[version] / f"{name}.json").read_text())
    declared = Draft4Validator if version == "1.6" else validator_for(schema)
    return tuple(v(schema) for v in dict.fromkeys((declared, Draft4Validator)))


def write_device_model(directory: Path, nb_evse: int, values: dict[str, str]) -> None:
    """Device model values of a 2.0.1 station (its instance file), by station setting (the 1.6
    key it maps) or flat key."""
    from chargepoint.ocpp201.device_model import DeviceModel
    from chargepoint.ocpp201.settings import VARIABLES

    model = DeviceModel.load(directory, nb_evse)
    for key, value in values.items():
        model.update(VARIABLES.get(key, key), value)


def frames(directory: Path) -> list[dict[str, Any]]:
    """The charge point's ocpp.log (rotated files first)."""
    paths = [*sorted(directory.glob("ocpp.log.*"), key=lambda p: -int(p.suffix[1:])), directory / "ocpp.log"]
    return [json.loads(line) for p in paths if p.exists() for line in p.read_text().splitlines()]


def assert_frames_valid(directory: Path, version: str = "1.6") -> int:
    """Every Call and CallResult the CP sent validates against the official schemas."""
    calls_in: dict[str, str] = {}
    checked = 0
    for frame in frames(directory):
        message = frame["message"]
        assert isinstance(message, list), frame
        if frame["direction"] == "in":
            if message[0] == 2:
                calls_in[message[1]] = message[2]
            continue
        if message[0] == 2:
            name, payload = message[2] + ("Request" if version != "1.6" else ""), message[3]
        elif message[0] == 3:
            name, payload = calls_in[message[1]] + "Response", message[2]
        else:
            continue
        errors = [e.message for v in _validators(version, name) for e in v.iter_errors(payload)]
        assert not errors, f"{name} {payload}: {errors}"
        checked += 1
    return checked


@dataclass
class ChargePoint:
    cp_id: str
    directory: Path
    broker: str
    version: str = "1.6"
    process: ManagedProcess | None = None
    log_seq: int = 0
    _starts: list[ManagedProcess] = field(default_factory=list)

    def start(self) -> ChargePoint:
        self.log_seq += 1
        self.process = ManagedProcess([PYTHON, "-m", "chargepoint", "--workdir", str(self.directory),
                                       "--broker", self.broker, "-v"],
                                      log=self.directory.parent / f"{self.cp_id}-{self.log_seq}.out")
        self._starts.append(self.process)
        return self

    def stop(self) -> None:
        for p in self._starts:
            p.stop()

    def kill(self) -> None:
        assert self.process is not None
        self.process.signal(9)
        self.process.wait(5)

    def output(self) -> str:
        return "\n".join(p.output() for p in self._starts)

    def sent(self, action: str) -> list[dict[str, Any]]:
        """Payloads of the Calls with this action the CP sent (from its own ocpp.log)."""
        return [f["message"][3] for f in frames(self.directory)
                if f["direction"] == "out" and f["message"][0] == 2 and f["message"][2] == action]


@pytest.fixture
def cp_factory(tmp_path: Path) -> Iterator[Callable[..., ChargePoint]]:
    made: list[ChargePoint] = []

    def make(csms_url: str, broker: str, cp_id: str = "CP1", *, start: bool = True,
             ocpp: dict[str, str] | None = None, **definition: Any) -> ChargePoint:
        directory = tmp_path / cp_id
        d = ChargePointDefinition.from_dict({"id": cp_id, "central_system": csms_url, **definition})
        write_instance_config(load_config(None), d, directory, broker=broker)
        if d.ocpp_version == "1.6":
            update_section(directory / "config.ini", SECTION_OCPP, {**FAST_OCPP, **(ocpp or {})})
        else:
            write_device_model(directory, d.nb_connectors, {**FAST_OCPP, **(ocpp or {})})
        update_section(directory / "config.ini", SECTION_SIMULATION, FAST_SIMULATION)
        cp = ChargePoint(cp_id, directory, broker, d.ocpp_version)
        made.append(cp)
        return cp.start() if start else cp

    yield make
    for cp in made:
        cp.stop()
    for cp in made:
        if (cp.directory / "ocpp.log").exists():
            assert_frames_valid(cp.directory, cp.version)


class RestartableCsms:
    """The demo CSMS on fixed ports, so that it can be stopped and started again."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        self.port, self.api_port = free_port(), free_port()
        self.log = tmp / f"csms-{self.port}.jsonl"
        self.tmp = tmp
        self.extra = extra
        self.process: ManagedProcess | None = None
        self.url = f"ws://127.0.0.1:{self.port}"
        self.api = f"http://127.0.0.1:{self.api_port}"
        self._all: list[ManagedProcess] = []

    def start(self) -> RestartableCsms:
        args = ocpp_simu("csms", "--port", str(self.port), "--api-port", str(self.api_port),
                         "--log", str(self.log), *self.extra)
        self.process = ManagedProcess(args, log=self.tmp / f"csms-{self.port}.out")
        self._all.append(self.process)
        wait_until(lambda: (port_open(self.port) and port_open(self.api_port)) or not self.process.alive(),
                   15, what="demo CSMS")
        assert self.process.alive(), self.process.output()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def close(self) -> None:
        for p in self._all:
            p.stop()

    def messages(self, action: str | None = None, cp_id: str | None = None,
                 direction: str | None = "in") -> list[dict[str, Any]]:
        return Csms.messages(self, action, cp_id, direction)  # type: ignore[arg-type]


@pytest.fixture
def csms_factory(tmp_path: Path) -> Iterator[Callable[..., RestartableCsms]]:
    made: list[RestartableCsms] = []

    def make(*extra: str, start: bool = True) -> RestartableCsms:
        c = RestartableCsms(tmp_path, *extra)
        made.append(c)
        return c.start() if start else c

    yield make
    for c in made:
        c.close()


def call(api: str, cp_id: str, action: str, payload: dict[str, Any] | None = None,
         timeout: float = 15.0) -> dict[str, Any]:
    """Make the demo CSMS send a call to the charge point; returns the CP's answer payload."""
    body = _control_api_call(api, cp_id, action, payload, timeout)
    assert body.get("status") == "ok", body
    return body["response"]


def call_error(api: str, cp_id: str, action: str, payload: dict[str, Any] | None = None) -> str:
    """The error code of the CallError the charge point answers this call with."""
    body = _control_api_call(api, cp_id, action, payload, 15.0)
    assert body.get("error") == "call_error", body
    return body["error_code"]


def _control_api_call(api: str, cp_id: str, action: str, payload: dict[str, Any] | None,
                      timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(f"{api}/api/cps/{cp_id}/call/{action}", method="POST",
                                     data=json.dumps(payload or {}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:  # the control API's errors carry a JSON body too
        return json.loads(exc.read())


def messages(csms: Any, action: str, cp_id: str = "CP1") -> list[dict[str, Any]]:
    """Payloads of the calls with this action the CSMS received from the CP."""
    return [m["payload"] for m in csms.messages(action=action, cp_id=cp_id, direction="in")
            if m.get("message_type") == "call"]


class Driver:
    """Drives one CP over MQTT; waits only see messages published after the last input."""

    def __init__(self, rec, cp: str = "CP1") -> None:
        self.rec = rec
        self.cp = cp
        self.mark = 0

    def from_now(self) -> None:
        """Waits see only what is published from now on (an input does this by itself)."""
        self.mark = len(self.rec.messages)

    def publish(self, topic: str, payload: object) -> None:
        self.from_now()
        self.rec.publish(topic, payload if isinstance(payload, str) else json.dumps(payload))

    def car(self, n: int = 1, **car: object) -> None:
        self.publish(T.connector_car(self.cp, n), car or CAR)

    def tag(self, tag: str, n: int = 1) -> None:
        self.publish(T.connector_id_tag(self.cp, n), {"id": tag})

    def fault(self, faulted: bool, n: int = 1) -> None:
        self.publish(T.connector_faulted(self.cp, n), {"faulted": faulted})

    def wait(self, topic: str, predicate, timeout: float = 10.0) -> dict:
        def check() -> dict | None:
            for m in self.rec.messages[self.mark:]:
                if m.topic == topic and m.payload and predicate(data := json.loads(m.payload)):
                    return data
            return None
        return wait_until(check, timeout, what=f"a matching message on {topic}")  # type: ignore[return-value]

    def connector(self, status: str, n: int = 1, timeout: float = 10.0, **fields: object) -> dict:
        return self.wait(T.connector_status(self.cp, n), lambda d: d["status"] == status and all(
            d[k] == v if v is not ANY else d[k] is not None for k, v in fields.items()), timeout)

    def status(self, status: str, timeout: float = 10.0) -> dict:
        return self.wait(T.cp_status(self.cp), lambda d: d["status"] == status, timeout)

    def start_session(self, n: int = 1, tag: str = "TAG1") -> dict:
        self.car(n)
        self.tag(tag, n)
        return self.connector("Charging", n, transaction_id=ANY)


ANY = object()


def utc(ts: float) -> datetime:
    """A wall-clock time as the aware datetime OCPP payloads are built from."""
    return datetime.fromtimestamp(ts, UTC)


def wait_message(csms, action: str, predicate=lambda p: True, cp: str = "CP1", timeout: float = 10.0) -> dict:
    return wait_until(lambda: next((p for p in reversed(messages(csms, action, cp)) if predicate(p)), None),
                      timeout, what=f"{action} at the CSMS")  # type: ignore[return-value]
