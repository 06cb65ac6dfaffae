"""The CSMS's side of automatic remote-start sessions, through the demo CSMS's control API.

A charge point cannot start a remote start itself: its automatic plan plugs the car and
publishes a `remote_start` input on `cps/<id>/auto`. This listener hears it and asks the
demo CSMS (`POST /api/cps/<id>/call/...`) to send RemoteStartTransaction (1.6) or
RequestStartTransaction (2.0.1: the version the CSMS knows, `GET /api/cps/<id>`). With
another CSMS, whoever drives it does the same from the same topic. It subscribes to that
topic only, so it can share an MQTT client with a view of the statuses.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from cp_simu.mqtt import Message, MqttClient, parse_json_message
from cp_simu.topics import Topics

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 35.0  # s: the control API waits up to its call timeout (30 s) for the answer


class RemoteStarts:
    def __init__(self, mqtt: MqttClient, topics: Topics, api_url: str, *, workers: int = 4) -> None:
        self.api_url = api_url.rstrip("/")
        self.topics = topics
        self.started = 0  # remote starts the charge point accepted
        self.failed = 0  # refused by the charge point, or the call failed
        self._versions: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="remote-start")
        mqtt.subscribe(topics.all_cp_auto, self._on_auto)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _on_auto(self, msg: Message) -> None:
        decoded = parse_json_message(self.topics, msg)
        if decoded is None:
            return
        parsed, record = decoded
        try:
            if parsed.cp_id is None or record.get("kind") != "remote_start":
                return
            connector, tag = int(record["connector"]), str(record["payload"]["id"])
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("unreadable automatic input on %s", msg.topic)
            return
        self._pool.submit(self._start, parsed.cp_id, connector, tag)

    def _version(self, cp_id: str) -> str:
        """The charge point's OCPP version, as the CSMS knows it (asked once)."""
        if cp_id not in self._versions:
            self._versions[cp_id] = str(self._api("GET", f"/cps/{cp_id}")["cp"]["ocpp_version"])
        return self._versions[cp_id]

    def _api(self, method: str, path: str, payload: dict[str, object] | None = None) -> dict:
        request = urllib.request.Request(f"{self.api_url}{path}", method=method,
                                         data=None if payload is None else json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as reply:
            return json.loads(reply.read())

    def _start(self, cp_id: str, connector: int, tag: str) -> None:
        try:
            if self._version(cp_id) == "1.6":
                action, payload = "RemoteStartTransaction", {"connectorId": connector, "idTag": tag}
            else:
                action, payload = "RequestStartTransaction", {
                    "evseId": connector, "remoteStartId": next(self._ids),
                    "idToken": {"idToken": tag, "type": "ISO14443"}}
            answer = self._api("POST", f"/cps/{cp_id}/call/{action}", payload).get("response", {})
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("remote start of %s connector %d failed: %s", cp_id, connector, exc)
            with self._lock:
                self.failed += 1
            return
        accepted = answer.get("status") == "Accepted"
        with self._lock:
            if accepted:
                self.started += 1
            else:
                self.failed += 1
        log.info("remote start of %s connector %d: %s", cp_id, connector, answer.get("status"))
