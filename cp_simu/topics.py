"""Every MQTT topic of the contract (docs/mqtt-api.md), built and parsed in one place.

Launchers: the unnamed one uses `<root>/launcher/<leaf>`, a named one (several may share a
broker, one per host) `<root>/launchers/<name>/<leaf>`, with the same leaves and payloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_ROOT = "cp_simu"


class TopicKind(StrEnum):
    LAUNCHER_STATUS = "launcher/status"
    LAUNCHER_CMD = "launcher/cmd"
    LAUNCHER_ERROR = "launcher/error"
    LAUNCHER_INFO = "launcher/info"
    LAUNCHER_STATS = "launcher/stats"
    CP_STATUS = "status"
    CP_CMD = "cmd"
    CP_ERROR = "error"
    CP_OCPP_CONFIG = "ocpp_config"
    CP_OCPP_LOG = "ocpp_log"
    CP_AUTO = "auto"
    CP_STATS = "stats"
    CONNECTOR_STATUS = "connectors/status"
    CONNECTOR_CAR = "connectors/car"
    CONNECTOR_ID_TAG = "connectors/id_tag"
    CONNECTOR_FAULTED = "connectors/faulted"
    SCENARIO_STATUS = "scenario/status"


_CP_LEAVES = {"status": TopicKind.CP_STATUS, "cmd": TopicKind.CP_CMD, "error": TopicKind.CP_ERROR,
              "ocpp_config": TopicKind.CP_OCPP_CONFIG, "ocpp_log": TopicKind.CP_OCPP_LOG,
              "auto": TopicKind.CP_AUTO, "stats": TopicKind.CP_STATS}
_CONNECTOR_LEAVES = {"status": TopicKind.CONNECTOR_STATUS, "car": TopicKind.CONNECTOR_CAR,
                     "id_tag": TopicKind.CONNECTOR_ID_TAG, "faulted": TopicKind.CONNECTOR_FAULTED}
_LAUNCHER_LEAVES = {"status": TopicKind.LAUNCHER_STATUS, "cmd": TopicKind.LAUNCHER_CMD,
                    "error": TopicKind.LAUNCHER_ERROR, "info": TopicKind.LAUNCHER_INFO,
                    "stats": TopicKind.LAUNCHER_STATS}


@dataclass(frozen=True)
class ParsedTopic:
    kind: TopicKind
    cp_id: str | None = None
    connector: str | None = None  # kept as text: the caller decides what a bad number means
    launcher: str | None = None  # launcher topics: the launcher's name, "" for the unnamed one

    @property
    def connector_number(self) -> int | None:
        """The connector segment as a number >= 1, else None. ASCII digits only: `isdigit()`
        is true of "²" (which int() refuses) and int() reads "１" as 1."""
        text = self.connector or ""
        return int(text) if text.isascii() and text.isdigit() and int(text) >= 1 else None


@dataclass(frozen=True)
class LauncherTopics:
    """The topics of one launcher: `<root>/launcher/…` (name "") or `<root>/launchers/<name>/…`.

    The name is not validated here (see cp_simu.models.validate_launcher_name): a topic
    builder must also serve clients that only read what others publish.
    """

    root: str = DEFAULT_ROOT
    name: str = ""

    @property
    def base(self) -> str:
        return f"{self.root}/launchers/{self.name}" if self.name else f"{self.root}/launcher"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def cmd(self) -> str:
        return f"{self.base}/cmd"

    @property
    def error(self) -> str:
        return f"{self.base}/error"

    @property
    def info(self) -> str:
        return f"{self.base}/info"

    @property
    def stats(self) -> str:
        return f"{self.base}/stats"


@dataclass(frozen=True)
class Topics:
    """Topic builder for one root prefix (`cp_simu` unless configured otherwise)."""

    root: str = DEFAULT_ROOT

    # -- launchers --------------------------------------------------------
    def launcher(self, name: str = "") -> LauncherTopics:
        """The topics of the launcher called `name` ("" = the unnamed one)."""
        return LauncherTopics(self.root, name)

    @property
    def launcher_status(self) -> str:
        return self.launcher().status

    @property
    def launcher_cmd(self) -> str:
        return self.launcher().cmd

    @property
    def launcher_error(self) -> str:
        return self.launcher().error

    @property
    def launcher_info(self) -> str:
        return self.launcher().info

    @property
    def all_launchers(self) -> tuple[str, ...]:
        """Filters for the status, info and error of every launcher, unnamed and named
        (commands excluded: an observer has no business reading them)."""
        named = f"{self.root}/launchers/+"
        return tuple(f"{base}/{leaf}" for leaf in ("status", "info", "error")
                     for base in (f"{self.root}/launcher", named))

    @property
    def launcher_stats(self) -> str:
        return self.launcher().stats

    # -- charge points ----------------------------------------------------
    def cp(self, cp_id: str) -> str:
        return f"{self.root}/cps/{cp_id}"

    def cp_status(self, cp_id: str) -> str:
        return f"{self.cp(cp_id)}/status"

    def cp_cmd(self, cp_id: str) -> str:
        return f"{self.cp(cp_id)}/cmd"

    def cp_error(self, cp_id: str) -> str:
        return f"{self.cp(cp_id)}/error"

    def cp_ocpp_config(self, cp_id: str) -> str:
        return f"{self.cp(cp_id)}/ocpp_config"

    def cp_ocpp_log(self, cp_id: str) -> str:
        return f"{self.cp(cp_id)}/ocpp_log"

    def cp_auto(self, cp_id: str) -> str:
        """The automatic inputs a charge point applies (while automatic sessions run)."""
        return f"{self.cp(cp_id)}/auto"

    def cp_stats(self, cp_id: str) -> str:
        return f"{self.cp(cp_id)}/stats"

    # -- connectors -------------------------------------------------------
    def connector(self, cp_id: str, n: int | str) -> str:
        return f"{self.cp(cp_id)}/connectors/{n}"

    def connector_status(self, cp_id: str, n: int | str) -> str:
        return f"{self.connector(cp_id, n)}/status"

    def connector_car(self, cp_id: str, n: int | str) -> str:
        return f"{self.connector(cp_id, n)}/car"

    def connector_id_tag(self, cp_id: str, n: int | str) -> str:
        return f"{self.connector(cp_id, n)}/id_tag"

    def connector_faulted(self, cp_id: str, n: int | str) -> str:
        return f"{self.connector(cp_id, n)}/faulted"

    # -- subscription filters --------------------------------------------
    @property
    def all(self) -> str:
        return f"{self.root}/#"

    @property
    def all_cp_statuses(self) -> str:
        return f"{self.root}/cps/+/status"

    @property
    def all_connector_statuses(self) -> str:
        return f"{self.root}/cps/+/connectors/+/status"

    @property
    def all_cp_auto(self) -> str:
        return f"{self.root}/cps/+/auto"

    @property
    def all_cp_stats(self) -> str:
        return f"{self.root}/cps/+/stats"

    @property
    def all_cp_errors(self) -> str:
        return f"{self.root}/cps/+/error"

    @property
    def all_ocpp_logs(self) -> str:
        return f"{self.root}/cps/+/ocpp_log"

    # -- scenarios --------------------------------------------------------
    @property
    def scenario_status(self) -> str:
        """Retained progress of `ocpp-simu scenario run` (see docs/scenarios.md)."""
        return f"{self.root}/scenario/status"

    def cp_inputs(self, cp_id: str) -> str:
        """Filter for every connector input of one CP (car, id_tag, faulted)."""
        return f"{self.cp(cp_id)}/connectors/+/+"

    # -- parsing ----------------------------------------------------------
    def parse(self, topic: str) -> ParsedTopic | None:
        """What a topic of this tree is, or None for a topic outside the contract."""
        prefix = self.root + "/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix):].split("/")
        if len(parts) == 2 and parts[0] == "launcher" and parts[1] in _LAUNCHER_LEAVES:
            return ParsedTopic(_LAUNCHER_LEAVES[parts[1]], launcher="")
        if len(parts) == 3 and parts[0] == "launchers" and parts[1] and parts[2] in _LAUNCHER_LEAVES:
            return ParsedTopic(_LAUNCHER_LEAVES[parts[2]], launcher=parts[1])
        if parts == ["scenario", "status"]:
            return ParsedTopic(TopicKind.SCENARIO_STATUS)
        if len(parts) == 3 and parts[0] == "cps" and parts[2] in _CP_LEAVES and parts[1]:
            return ParsedTopic(_CP_LEAVES[parts[2]], cp_id=parts[1])
        if (len(parts) == 5 and parts[0] == "cps" and parts[1] and parts[2] == "connectors"
                and parts[4] in _CONNECTOR_LEAVES):
            return ParsedTopic(_CONNECTOR_LEAVES[parts[4]], cp_id=parts[1], connector=parts[3])
        return None
