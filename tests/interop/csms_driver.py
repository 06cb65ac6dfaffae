"""ocpp-csms (PyPI, a Central System nobody here wrote) as a process the interop tests drive.

Runs in its own virtualenv (tests/interop/requirements.txt), never in ocpp-simu's: it embeds
`ocpp_csms.CentralSystem` unchanged and adds only what a test needs to see and steer it:

- every library event and every OCPP frame (the library's own wire logger) as JSON lines
  in `--events`;
- a small HTTP API on `--api-port`:
  `POST /cps/<id>/call/<Action>` with the OCPP payload (camelCase) sends that request through
  `ChargePoint.async_call` and answers `{"result": {...}}` or `{"error": code, "description": ...}`;
  `PUT /registration` with `{"status": "Accepted" | "Pending" | "Rejected"}` sets the answer
  to the BootNotifications that follow (`--registration` is the first one).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import decimal
import enum
import json
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.v16 import call
from ocpp_csms import BootInfo, CentralSystem, ChargePoint, ChargePointEvent, CsmsError, RegistrationStatus


def _plain(value: Any) -> Any:
    """JSON for what events and call results hold (datetimes, enums, Decimals)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


class EventLog:
    def __init__(self, path: Path) -> None:
        self._file: TextIO = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        record = {"time": datetime.now(UTC).isoformat(), **record}
        self._file.write(json.dumps(record, default=_plain) + "\n")
        self._file.flush()

    def on_event(self, event: ChargePointEvent) -> None:
        self.write({"event": type(event).__name__, **dataclasses.asdict(event)})


class WireHandler(logging.Handler):
    """The library logs each frame as `<id>: receive message <frame>` / `<id>: send <frame>`."""

    def __init__(self, log: EventLog) -> None:
        super().__init__(logging.DEBUG)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        if not isinstance(record.args, tuple) or len(record.args) != 2:
            return
        cp_id, frame = record.args
        direction = "in" if "receive" in str(record.msg) else "out"
        with contextlib.suppress(ValueError):
            self._log.write({"event": "Wire", "charge_point_id": cp_id, "direction": direction,
                             "message": json.loads(str(frame))})


class Driver:
    def __init__(self, args: argparse.Namespace) -> None:
        self.registration = RegistrationStatus(args.registration)
        self.password: str | None = args.password
        self.log = EventLog(args.events)
        self.csms = CentralSystem(host="127.0.0.1", port=args.port, heartbeat_interval=args.heartbeat_interval,
                                  call_timeout=args.call_timeout, registration=self._registration,
                                  authenticate=self._authenticate if self.password else None)
        self.csms.add_listener(self.log.on_event)

    async def _registration(self, _cp: ChargePoint, _info: BootInfo) -> RegistrationStatus:
        return self.registration

    async def _authenticate(self, _cp_id: str, password: str | None) -> bool:
        return password == self.password

    async def call(self, request: web.Request) -> web.Response:
        cp_id, action = request.match_info["cp_id"], request.match_info["action"]
        cp = self.csms.charge_points.get(cp_id)
        payload = await request.json()
        request_type = getattr(call, action, None)
        if cp is None or not (isinstance(request_type, type) and dataclasses.is_dataclass(request_type)):
            return web.json_response({"error": "NotFound", "description": f"{cp_id} / {action}"}, status=404)
        try:
            result = await cp.async_call(request_type(**camel_to_snake_case(payload)))
        except CsmsError as exc:
            return web.json_response({"error": getattr(exc, "code", type(exc).__name__),
                                      "description": str(exc)}, status=502)
        answer = snake_to_camel_case({k: v for k, v in dataclasses.asdict(result).items() if v is not None})
        return web.json_response({"result": answer}, dumps=lambda d: json.dumps(d, default=_plain))

    async def set_registration(self, request: web.Request) -> web.Response:
        self.registration = RegistrationStatus((await request.json())["status"])
        return web.json_response({"registration": self.registration.value})

    async def run(self, api_port: int) -> None:
        app = web.Application()
        app.router.add_post("/cps/{cp_id}/call/{action}", self.call)
        app.router.add_put("/registration", self.set_registration)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", api_port).start()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        async with self.csms:
            self.log.write({"event": "Listening", "port": self.csms.port})
            await stop.wait()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="OCPP WebSocket port")
    parser.add_argument("--api-port", type=int, required=True, help="the tests' HTTP API port")
    parser.add_argument("--events", type=Path, required=True, help="JSON-lines file of events and frames")
    parser.add_argument("--registration", default="Accepted", choices=[s.value for s in RegistrationStatus])
    parser.add_argument("--heartbeat-interval", type=int, default=300)
    parser.add_argument("--call-timeout", type=float, default=15.0)
    parser.add_argument("--password", help="require HTTP Basic auth: user = charge point id, this password")
    args = parser.parse_args()
    driver = Driver(args)
    wire = logging.getLogger("ocpp_csms.wire")
    wire.setLevel(logging.DEBUG)
    wire.addHandler(WireHandler(driver.log))
    wire.propagate = False
    asyncio.run(driver.run(args.api_port))


if __name__ == "__main__":
    main()
