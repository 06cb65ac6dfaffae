"""What a scenario runs on — broker, CSMS, launcher — and how it acts on them.

The parts not given are started with `ocpp-simu up`'s own machinery (`launcher.up.Up`), which
also stops, at the end, exactly what it started and every charge point of its launcher.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from cp_simu.broker_access import BrokerAccess
from cp_simu.models import AutoSettings, LauncherCommand, LauncherCommandType
from cp_simu.mqtt import Message, MqttClient
from cp_simu.topics import Topics
from launcher.fleetview import FleetView
from launcher.instances import Instances
from launcher.remote_starts import RemoteStarts
from launcher.up import Up

from .observer import Observer

HTTP_TIMEOUT = 30.0
CONNECT_WAIT = 10.0
INFO_WAIT = 2.0  # for the retained info of a launcher found on the broker (a launcher may have none)


class ActionFailed(Exception):
    """A step could not do what it says (an HTTP call refused, no CSMS to stop…)."""


class Environment:
    def __init__(self, access: BrokerAccess, csms_url: str | None, csms_api: str | None, workdir: Path) -> None:
        self.up = Up(access, csms_url, workdir, csms_port=0)  # the demo CSMS on free ports
        self.topics = Topics()
        self.view = FleetView(self.topics, [])
        self._csms_api = csms_api or ""
        self.parts: dict[str, str] = {}
        self._launcher_info: Any = None  # the retained launcher/info
        self._info_seen = threading.Event()
        self._watch: MqttClient | None = None

    # -- lifecycle --------------------------------------------------------
    def open(self, observer: Observer) -> None:
        """Broker, MQTT connections, launcher and CSMS, each started unless given or found.

        The observer gets a connection of its own: a client has one handler per filter, and
        `up`'s fleet view already listens to the statuses on `up`'s."""
        self.parts["broker"] = self.up.start_broker()
        self.up.connect(self.view)
        self._watch = MqttClient(self.up.access, f"ocpp-simu-scenario-{os.getpid()}")
        self._watch.subscribe(self.topics.launcher_info, self._on_launcher_info)
        try:
            self._watch.connect(CONNECT_WAIT)
        except TimeoutError as exc:
            raise click.ClickException(str(exc)) from None
        self.parts["launcher"] = self.up.start_launcher(self.parts["broker"] == "embedded")
        if self.parts["launcher"] == "existing":  # its info tells whether its files are here
            self._info_seen.wait(INFO_WAIT)
        self.up.start_csms()
        self.parts["csms"] = self.up.csms_kind
        observer.instances = self.instances
        observer.attach(self._watch)

    def close(self) -> None:
        if self._watch is not None:
            self._watch.stop()
        self.up.stop(self.view)

    def request_stop(self, *_: object) -> None:
        self.up.request_stop()

    @property
    def stopping(self) -> bool:
        return self.up.stopping

    def _on_launcher_info(self, msg: Message) -> None:
        with contextlib.suppress(ValueError, RecursionError):  # RecursionError: nested too deep for json
            self._launcher_info = json.loads(msg.payload)
        self._info_seen.set()

    @property
    def instances(self) -> Path | None:
        """Where the charge points' instance directories are, if on this machine: the launcher
        is ours, or one found on the broker says it runs here (its info)."""
        if "launcher" in dict(self.up.started):
            return Instances(self.up.workdir).root
        info = self._launcher_info if isinstance(self._launcher_info, dict) else {}
        workdir = Path(str(info.get("workdir") or ""))  # exists; its instances/ not before the first start
        here = info.get("host") == socket.gethostname() and info.get("workdir") and workdir.is_dir()
        return Instances(workdir).root if here else None

    @property
    def csms_url(self) -> str:
        return str(self.up.csms_url)

    @property
    def csms_api(self) -> str:
        """The control API calls go to: --csms-api, else the demo CSMS's."""
        return (self._csms_api or self.up.api_url).rstrip("/")

    @property
    def mqtt(self) -> MqttClient:
        assert self.up.mqtt is not None
        return self.up.mqtt

    # -- charge points ----------------------------------------------------
    def start(self, definitions: list[dict[str, Any]], options: dict[str, Any]) -> None:
        self.up.start_cps(definitions, options)

    def auto(self, settings: AutoSettings, cp_ids: list[str]) -> None:
        """Automatic sessions through the launcher (per-CP seeds derived from the seed); their
        remote starts go through the control API, when there is one."""
        if self.csms_api and self.up.remote_starts is None:
            self.up.remote_starts = RemoteStarts(self.mqtt, self.topics, self.csms_api)
        self.publish(self.up.own.cmd, LauncherCommand(LauncherCommandType.AUTO, ids=cp_ids, auto=settings).to_json())

    def kill(self, cp_ids: list[str]) -> None:
        self.publish(self.up.own.cmd, LauncherCommand(LauncherCommandType.KILL, ids=cp_ids).to_json())

    def publish(self, topic: str, payload: dict[str, Any] | str) -> None:
        self.mqtt.publish(topic, payload if isinstance(payload, str) else json.dumps(payload))

    # -- CSMS ---------------------------------------------------------------
    def stop_csms(self) -> None:
        try:
            self.up.stop_csms()
        except click.ClickException as exc:
            raise ActionFailed(exc.format_message()) from None

    def start_csms(self) -> None:
        if self.up.csms_ports is None:
            raise ActionFailed("no demo CSMS was started here (the CSMS was given with --csms)")
        try:
            self.up.start_csms()
        except click.ClickException as exc:
            raise ActionFailed(exc.format_message()) from None

    def http(self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
             timeout: float = HTTP_TIMEOUT) -> tuple[int, Any]:
        """(status, JSON answer or text) of a request; a relative `url` is under the control API."""
        if not url.startswith(("http://", "https://")):
            if not self.csms_api:
                raise ActionFailed(f"{url}: a relative URL needs --csms-api (no demo CSMS was started)")
            url = f"{self.csms_api}/{url.lstrip('/')}"
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                status, raw = reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise ActionFailed(f"{method} {url}: {getattr(exc, 'reason', exc)}") from None
        text = raw.decode("utf-8", "replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def call(self, cp_id: str, action: str, payload: dict[str, Any], timeout: float) -> tuple[int, Any]:
        """A CSMS-initiated call through the control API (the demo CSMS's, or one like it)."""
        if not self.csms_api:
            raise ActionFailed("`call` needs the CSMS's control API: give --csms-api with --csms")
        return self.http("POST", f"{self.csms_api}/cps/{cp_id}/call/{action}?timeout={timeout:g}", payload,
                         timeout=timeout + 5)
