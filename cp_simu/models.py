"""Typed payloads of the MQTT contract (docs/mqtt-api.md) and their validation.

Hand-written rather than pydantic: every charge point process imports this module and
hundreds of them run at once, so it stays small. Validation follows the wire contract:
JSON integers and floats are both numbers, booleans must be JSON booleans, and every
error names the field it is about.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, ClassVar, Self

from cp_simu import redact
from cp_simu.latency import SCHEME as LATENCY_SCHEME
from cp_simu.latency import CallLatencies
from cp_simu.security_settings import SecuritySettings, SecuritySettingsError
from cp_simu.topics import ParsedTopic
from cp_simu.urls import central_system_problem

ID_PATTERN = re.compile(r"^[A-Za-z0-9_\-.:]{1,48}$")
ERROR_PAYLOAD_EXCERPT = 200
# A connector input (car, id_tag, faulted) is a few hundred bytes; one of megabytes would
# hold the charge point's loop (a packed process's every member) for seconds while parsed.
CONNECTOR_INPUT_LIMIT = 64 * 1024


class PayloadError(ValueError):
    """A payload that does not follow the contract; the message names the field."""


def validate_cp_id(value: object, where: str = "id") -> str:
    """Charge point ids: 1–48 of `A-Z a-z 0-9 _ - . :`, never `.` or `..`."""
    if not isinstance(value, str):
        raise PayloadError(f"{where}: expected a string, got {_json_type(value)}")
    if not ID_PATTERN.match(value) or value in (".", ".."):
        raise PayloadError(f"{where}: invalid charge point id {value[:60]!r} "
                           "(1-48 characters of A-Z a-z 0-9 _ - . :, not '.' or '..')")
    return value


def validate_launcher_name(value: object, where: str = "launcher") -> str:
    """Launcher names follow the id rules: one safe topic level and file name; "" is the unnamed one."""
    if value == "":
        return ""
    if not isinstance(value, str) or not ID_PATTERN.match(value) or value in (".", ".."):
        shown = repr(value[:60]) if isinstance(value, str) else _json_type(value)
        raise PayloadError(f"{where}: invalid launcher name {shown} "
                           "(1-48 characters of A-Z a-z 0-9 _ - . :, not '.' or '..')")
    return value


RETAINED_INPUT = ("retained message ignored: commands and inputs act once, when sent, and a retained one would "
                  "act again at every start; clear it by publishing an empty retained message on this topic")


def decode_object(raw: bytes | str, what: str = "payload", *, limit: int | None = None) -> dict[str, Any]:
    """Parse a JSON object payload or raise a PayloadError saying why it is not one
    (`limit`: its largest size in bytes, checked before parsing)."""
    if limit is not None and len(raw) > limit:
        raise PayloadError(f"{what}: {len(raw):,} bytes, more than the {limit:,} an input may have")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        value = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"{what}: not valid JSON ({exc})") from None
    except RecursionError:
        raise PayloadError(f"{what}: JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise PayloadError(f"{what}: expected a JSON object, got {_json_type(value)}")
    return value


def excerpt(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else raw
    return text[:ERROR_PAYLOAD_EXCERPT]


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_MISSING: Any = object()


class _Reader:
    """Reads typed fields out of a decoded JSON object, naming each field in errors."""

    def __init__(self, data: Mapping[str, Any], path: str = "") -> None:
        self.data = data
        self.path = path

    def where(self, key: str) -> str:
        return f"{self.path}{key}"

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        """The value as sent, unchecked (e.g. an id that has its own validator)."""
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise PayloadError(f"{self.where(key)}: missing")
        return default

    def number(self, key: str, default: Any = _MISSING, *, minimum: float | None = None,
               maximum: float | None = None, positive: bool = False) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PayloadError(f"{self.where(key)}: expected a number, got {_json_type(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise PayloadError(f"{self.where(key)}: must be a finite number")
        if minimum is not None and value < minimum:
            raise PayloadError(f"{self.where(key)}: must be >= {minimum:g}, got {value:g}")
        if maximum is not None and value > maximum:
            raise PayloadError(f"{self.where(key)}: must be <= {maximum:g}, got {value:g}")
        if positive and value <= 0:
            raise PayloadError(f"{self.where(key)}: must be > 0, got {value:g}")
        return float(value)

    def integer(self, key: str, default: Any = _MISSING, *, minimum: int | None = None,
                maximum: int | None = None) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or (isinstance(value, float) and not value.is_integer())):  # NaN and ±Infinity included
            raise PayloadError(f"{self.where(key)}: expected an integer, got {_json_type(value)} "
                               f"{json.dumps(value)[:40]}")
        value = int(value)
        if minimum is not None and value < minimum:
            raise PayloadError(f"{self.where(key)}: must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise PayloadError(f"{self.where(key)}: must be <= {maximum}, got {value}")
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, bool):
            raise PayloadError(f"{self.where(key)}: expected a boolean (true/false), got {_json_type(value)}")
        return value

    def string(self, key: str, default: Any = _MISSING, *, max_length: int | None = None,
               choices: tuple[str, ...] | None = None, non_empty: bool = False) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, str):
            raise PayloadError(f"{self.where(key)}: expected a string, got {_json_type(value)}")
        if non_empty and not value:
            raise PayloadError(f"{self.where(key)}: must not be empty")
        if max_length is not None and len(value) > max_length:
            raise PayloadError(f"{self.where(key)}: longer than {max_length} characters")
        if choices is not None and value not in choices:
            raise PayloadError(f"{self.where(key)}: must be one of {', '.join(choices)}, got {value[:40]!r}")
        return value

    def array(self, key: str) -> list[Any]:
        value = self.raw(key)
        if not isinstance(value, list):
            raise PayloadError(f"{self.where(key)}: expected an array, got {_json_type(value)}")
        return value


class JsonPayload:
    """Dataclass payloads that serialise to the compact JSON the wire carries."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)  # type: ignore[call-overload]
        extra = data.pop("extra", None) or {}
        return {**extra, **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


# ---------------------------------------------------------------------------
# Charge point definition (launcher start/restart entries, setup files)
# ---------------------------------------------------------------------------

class CpType(StrEnum):
    AC = "AC"
    DC = "DC"


OCPP_VERSIONS = ("1.6", "2.0.1")
SERIAL_PREFIX = "SN-"
METER_SERIAL_PREFIX = "MTR-"
SERIAL_MAX_LENGTH = 25  # CiString25: chargePointSerialNumber, meterSerialNumber


def derived_serial(prefix: str, cp_id: str) -> str:
    """A serial number that is the charge point's own: `<prefix><id>`, or for a long id its
    start and a hash of all of it, so that a CSMS keyed on serials tells stations apart."""
    text = f"{prefix}{cp_id}"
    if len(text) <= SERIAL_MAX_LENGTH:
        return text
    digest = hashlib.sha256(cp_id.encode()).hexdigest()[:8]
    return f"{text[:SERIAL_MAX_LENGTH - len(digest) - 1]}-{digest}"


def validate_central_system(value: str, where: str = "central_system") -> str:
    """A ws:// or wss:// URL, `{id}` standing for the charge point id (see `csms_endpoint`)."""
    problem = central_system_problem(value)
    if problem:
        raise PayloadError(f"{where}: {problem}, got {redact.url(value)[:80]!r}")
    return value


@dataclass
class ChargePointDefinition(JsonPayload):
    """One simulated charge point as the launcher's `start` entries describe it."""

    id: str
    type: str = CpType.AC.value
    vendor: str = "Open OCPP"
    model: str = "Simulated CP"
    serial: str = ""  # empty: derived from the id (see derived_serial)
    central_system: str = "ws://127.0.0.1:9000/"
    nb_connectors: int = 1
    nb_phases: int = 3
    voltage: float = 230.0
    max_setpoint: float = 32.0
    max_setpoint_per_connector: float = 32.0
    ocpp_version: str = "1.6"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.serial:
            self.serial = derived_serial(SERIAL_PREFIX, self.id)

    KNOWN: ClassVar[tuple[str, ...]] = (
        "id", "type", "vendor", "model", "serial", "central_system", "nb_connectors", "nb_phases",
        "voltage", "max_setpoint", "max_setpoint_per_connector", "ocpp_version")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], defaults: Mapping[str, Any] | None = None,
                  path: str = "") -> Self:
        """Validate one definition; keys it lacks come from `defaults` (config.ini), then built-ins."""
        if not isinstance(data, Mapping):
            raise PayloadError(f"{path or 'charge point'}: expected an object, got {_json_type(data)}")
        merged = {**(defaults or {}), **data}
        try:
            SecuritySettings.from_mapping(data, path)
        except SecuritySettingsError as exc:
            raise PayloadError(str(exc)) from None
        r = _Reader(merged, path)
        base = cls(id=validate_cp_id(r.raw("id"), r.where("id")))
        definition = cls(
            id=base.id,
            type=r.string("type", base.type, choices=("AC", "DC")),
            vendor=r.string("vendor", base.vendor, max_length=20),
            model=r.string("model", base.model, max_length=20),
            serial=r.string("serial", "", max_length=25),
            central_system=validate_central_system(
                r.string("central_system", base.central_system), r.where("central_system")),
            nb_connectors=r.integer("nb_connectors", base.nb_connectors, minimum=1, maximum=64),
            nb_phases=r.integer("nb_phases", base.nb_phases, minimum=1, maximum=3),
            voltage=r.number("voltage", base.voltage, positive=True),
            max_setpoint=r.number("max_setpoint", base.max_setpoint, positive=True),
            max_setpoint_per_connector=r.number("max_setpoint_per_connector",
                                                base.max_setpoint_per_connector, positive=True),
            ocpp_version=r.string("ocpp_version", base.ocpp_version, choices=OCPP_VERSIONS),
            extra={k: v for k, v in data.items() if k not in cls.KNOWN},
        )
        return definition

    @property
    def is_dc(self) -> bool:
        return self.type == CpType.DC.value

    @property
    def meter_serial(self) -> str:
        """The meter's serial (config.ini `meter_serial`), else one derived from the id."""
        return str(self.extra.get("meter_serial") or "") or derived_serial(METER_SERIAL_PREFIX, self.id)


# ---------------------------------------------------------------------------
# Launcher
# ---------------------------------------------------------------------------

MAX_CPS_PER_PROCESS = 4000  # a packed process holds ~4 descriptors per charge point


def _cps_per_process(r: _Reader) -> int | None:
    """Optional top-level `cps_per_process` of start commands and setup files."""
    return r.integer("cps_per_process", None, minimum=1, maximum=MAX_CPS_PER_PROCESS)


def _ramp(r: _Reader) -> float | None:
    """A start's optional top-level `"ramp"`: charge points started per second (> 0); absent or
    null starts them all at once."""
    return None if r.data.get("ramp") is None else r.number("ramp", positive=True)


class LauncherCommandType(StrEnum):
    START = "start"
    RESTART = "restart"
    KILL = "kill"
    CLOSE = "close"
    AUTO = "auto"


@dataclass
class LauncherCommand:
    """`cp_simu/launcher/cmd`: start/restart carry definitions, kill only ids, close nothing;
    auto carries ids (none: every charge point of the launcher) and the auto settings."""

    type: LauncherCommandType
    charge_points: list[ChargePointDefinition] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    cps_per_process: int | None = None  # start/restart: charge points per process (packed when > 1)
    ramp: float | None = None  # start/restart: charge points started per second (None: all at once)
    auto: AutoSettings | None = None
    every_cp: bool = False  # auto without `charge_points`: all of the launcher's charge points

    @classmethod
    def parse(cls, raw: bytes | str, defaults: Mapping[str, Any] | None = None) -> Self:
        """All or nothing: one bad entry rejects the whole command, naming every bad entry.

        A repeated id is not a payload error (the reference's own example repeats ids): the
        launcher refuses the second start of an id that is already running.
        """
        data = decode_object(raw, "launcher command")
        r = _Reader(data)
        kind = LauncherCommandType(r.string("type", choices=tuple(t.value for t in LauncherCommandType)))
        if kind is LauncherCommandType.CLOSE:
            return cls(kind)
        if kind is LauncherCommandType.AUTO:
            return cls._parse_auto(data)
        packing = None if kind is LauncherCommandType.KILL else _cps_per_process(r)
        entries = r.array("charge_points")
        ramp = None if kind is LauncherCommandType.KILL else _ramp(r)
        problems: list[str] = []
        definitions: list[ChargePointDefinition] = []
        ids: list[str] = []
        for i, entry in enumerate(entries):
            where = f"charge_points[{i}]."
            try:
                if kind is LauncherCommandType.KILL:
                    if not isinstance(entry, Mapping):
                        raise PayloadError(f"charge_points[{i}]: expected an object, got {_json_type(entry)}")
                    ids.append(validate_cp_id(_Reader(entry, where).raw("id"), f"{where}id"))
                else:
                    definition = ChargePointDefinition.from_dict(entry, defaults, where)
                    definitions.append(definition)
                    ids.append(definition.id)
            except PayloadError as exc:
                problems.append(str(exc))
        if problems:
            raise PayloadError("; ".join(problems))
        return cls(kind, definitions, ids, packing, ramp)

    @classmethod
    def _parse_auto(cls, data: dict[str, Any]) -> Self:
        """Ids as strings or `{"id": ...}` objects, as kill takes them."""
        settings = AutoSettings.from_dict(data)
        if "charge_points" not in data:
            return cls(LauncherCommandType.AUTO, auto=settings, every_cp=True)
        ids = []
        for i, entry in enumerate(_Reader(data).array("charge_points")):
            where = f"charge_points[{i}]"
            value = _Reader(entry, f"{where}.").raw("id") if isinstance(entry, Mapping) else entry
            ids.append(validate_cp_id(value, where))
        return cls(LauncherCommandType.AUTO, ids=ids, auto=settings)

    def to_dict(self) -> dict[str, Any]:
        if self.type is LauncherCommandType.CLOSE:
            return {"type": self.type.value}
        if self.type is LauncherCommandType.AUTO:
            assert self.auto is not None
            return {"type": self.type.value, **self.auto.to_dict(),
                    **({} if self.every_cp else {"charge_points": list(self.ids)})}
        if self.type is LauncherCommandType.KILL:
            return {"type": self.type.value, "charge_points": [{"id": i} for i in self.ids]}
        packing = {} if self.cps_per_process is None else {"cps_per_process": self.cps_per_process}
        ramp = {} if self.ramp is None else {"ramp": self.ramp}
        return {"type": self.type.value, **packing, **ramp,
                "charge_points": [d.to_dict() for d in self.charge_points]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


class LauncherStatus(StrEnum):
    ALIVE = "Alive"
    DEAD = "Dead"


@dataclass
class LauncherInfo(JsonPayload):
    version: str
    host: str
    pid: int
    running: int
    workdir: str = ""
    spawn_mode: str = "fork"
    name: str = ""  # the launcher's name, "" for the unnamed one
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Charge point status and commands
# ---------------------------------------------------------------------------

class CpRegistration(StrEnum):
    DISCONNECTED = "Disconnected"
    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"
    DEAD = "Dead"


@dataclass
class CpStatus(JsonPayload):
    """`cp_simu/cps/<id>/status`; additive fields travel in `extra`."""

    pid: int
    status: str
    vendor: str
    model: str
    serial: str
    nb_phases: int
    max_setpoint: float
    central_system: str
    type: str
    voltage: float
    # Why the CP is not registered ("connection refused", "HTTP 401 …", "BootNotification
    # Rejected; …"); "" when connected, and in statuses of CPs that do not say.
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_definition(cls, definition: ChargePointDefinition, pid: int, status: str,
                       reason: str = "", **extra: Any) -> Self:
        return cls(pid=pid, status=status, vendor=definition.vendor, model=definition.model,
                   serial=definition.serial, nb_phases=definition.nb_phases,
                   max_setpoint=float(definition.max_setpoint),
                   central_system=redact.url(definition.central_system),
                   type=definition.type, voltage=float(definition.voltage), reason=reason,
                   extra={"ocpp_version": definition.ocpp_version,
                          "nb_connectors": definition.nb_connectors,
                          "max_setpoint_per_connector": float(definition.max_setpoint_per_connector),
                          **extra})

    @classmethod
    def from_payload(cls, raw: bytes | str) -> Self:
        """Read a status as any contract-abiding CP publishes it (the reference's included)."""
        data = decode_object(raw, "charge point status")
        r = _Reader(data)
        known = {f.name for f in fields(cls)}
        return cls(
            pid=r.integer("pid", 0), status=r.string("status"), vendor=r.string("vendor", ""),
            model=r.string("model", ""), serial=r.string("serial", ""),
            nb_phases=r.integer("nb_phases", 1), max_setpoint=r.number("max_setpoint", 0.0),
            central_system=r.string("central_system", ""), type=r.string("type", "AC"),
            voltage=r.number("voltage", 0.0), reason=r.string("reason", ""),
            extra={k: v for k, v in data.items() if k not in known})

    @property
    def launcher(self) -> str:
        """The name of the launcher that runs the CP ("" = the unnamed one, or a CP that does not say)."""
        return str(self.extra.get("launcher") or "")

    def with_status(self, status: str) -> CpStatus:
        """The same charge point in another state; the old state's `reason` does not carry over."""
        return CpStatus(**{**{f.name: getattr(self, f.name) for f in fields(self)}, "status": status,
                           "reason": ""})

    def definition(self, cp_id: str) -> ChargePointDefinition:
        """Rebuild a start entry from a status (used to save a setup of a running fleet)."""
        e = self.extra
        return ChargePointDefinition(
            id=cp_id, type=self.type, vendor=self.vendor, model=self.model, serial=self.serial,
            central_system=self.central_system, nb_connectors=int(e.get("nb_connectors", 1)),
            nb_phases=self.nb_phases, voltage=self.voltage, max_setpoint=self.max_setpoint,
            max_setpoint_per_connector=float(e.get("max_setpoint_per_connector", self.max_setpoint)),
            ocpp_version=str(e.get("ocpp_version", "1.6")))


class CpCommandType(StrEnum):
    CLOSE = "close"
    OCPP_CONFIG = "ocpp_config"
    AUTO = "auto"
    NETWORK = "network"


@dataclass
class CpCommand:
    """`cps/<id>/cmd`; `auto` and `network` carry their settings."""

    type: CpCommandType
    auto: AutoSettings | None = None
    network: NetworkFault | None = None

    @classmethod
    def parse(cls, raw: bytes | str) -> Self:
        data = decode_object(raw, "command")
        kind = CpCommandType(_Reader(data).string("type", choices=tuple(t.value for t in CpCommandType)))
        if kind is CpCommandType.AUTO:
            return cls(kind, auto=AutoSettings.from_dict(data))
        if kind is CpCommandType.NETWORK:
            return cls(kind, network=NetworkFault.from_dict(data))
        return cls(kind)

    def to_dict(self) -> dict[str, Any]:
        extra = self.auto.to_dict() if self.auto else self.network.to_dict() if self.network else {}
        return {"type": self.type.value, **extra}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


# ---------------------------------------------------------------------------
# Automatic sessions and network faults (cps/<id>/cmd, launcher `auto`)
# ---------------------------------------------------------------------------

AUTO_MODES = ("plug_first", "tag_first", "remote_start")
SEED_MAX = 2**63 - 1


def _pair(r: _Reader, key: str, default: tuple[float, float], *, minimum: float = 0.0,
          maximum: float | None = None) -> tuple[float, float]:
    """`[low, high]` (or one number for both), within bounds, low <= high."""
    value = r.raw(key, None)
    if value is None:
        return default
    items = value if isinstance(value, list) else [value]
    if len(items) not in (1, 2):
        raise PayloadError(f"{r.where(key)}: expected [low, high] or a number")
    sub = _Reader({"low": items[0], "high": items[-1]}, f"{r.where(key)}.")
    low, high = sub.number("low", minimum=minimum), sub.number("high", minimum=minimum)
    if maximum is not None and high > maximum:
        raise PayloadError(f"{r.where(key)}: must be <= {maximum:g}, got {high:g}")
    if low > high:
        raise PayloadError(f"{r.where(key)}: low {low:g} is above high {high:g}")
    return low, high


def _weights(r: _Reader, key: str, default: dict[str, float], choices: tuple[str, ...], *,
             allow_empty: bool = False) -> dict[str, float]:
    """`{name: weight}` with known names and weights >= 0, some of them > 0 (unless empty is allowed)."""
    value = r.raw(key, None)
    if value is None:
        return dict(default)
    if not isinstance(value, Mapping):
        raise PayloadError(f"{r.where(key)}: expected an object of {', '.join(choices)} to weights, "
                           f"got {_json_type(value)}")
    sub = _Reader(value, f"{r.where(key)}.")
    weights = {}
    for name in value:
        if name not in choices:
            raise PayloadError(f"{r.where(key)}: unknown {str(name)[:40]!r} (one of {', '.join(choices)})")
        weights[name] = sub.number(name, minimum=0)
    if not any(weights.values()) and not (allow_empty and not weights):
        raise PayloadError(f"{r.where(key)}: needs a weight above 0")
    return {k: w for k, w in weights.items() if w > 0}


def _tags(r: _Reader, key: str, default: tuple[str, ...], *, allow_empty: bool) -> tuple[str, ...]:
    value = r.raw(key, None)
    if value is None:
        return default
    if not isinstance(value, list) or (not value and not allow_empty):
        raise PayloadError(f"{r.where(key)}: expected a{'n' if allow_empty else ' non-empty'} array of id tags")
    sub = _Reader({str(i): v for i, v in enumerate(value)}, f"{r.where(key)}[")
    return tuple(sub.string(str(i), non_empty=True, max_length=max(ID_TAG_MAX_LENGTH.values()))
                 for i in range(len(value)))


@dataclass(frozen=True)
class AutoSettings:
    """How a charge point's automatic sessions come and go (the `auto` command).

    Times in seconds, `rate` in arrivals per hour for the whole charge point, energy in kWh,
    SoC in %. A `profile` scales the rate over `profile_period` seconds (24 factors: one per
    hour of a day), starting `profile_offset` seconds into it, so a seed alone fixes the
    sequence of inputs whatever the time of day it runs."""

    enabled: bool = True
    seed: int | None = None  # None: the charge point picks one and reports it
    rate: float = 4.0
    profile: tuple[float, ...] = ()
    profile_period: float = 86400.0
    profile_offset: float = 0.0
    dwell: tuple[float, float] = (300.0, 1800.0)
    tag_delay: tuple[float, float] = (1.0, 5.0)
    energy_kwh: tuple[float, float] = (5.0, 40.0)
    soc: tuple[float, float] = (10.0, 60.0)
    ev: dict[str, float] = field(default_factory=lambda: dict.fromkeys(EV_PRESETS, 1.0))
    mix: dict[str, float] = field(default_factory=lambda: {"plug_first": 0.6, "tag_first": 0.3,
                                                           "remote_start": 0.1})
    id_tags: tuple[str, ...] = tuple(f"AUTO_{n:04d}" for n in range(1, 21))
    invalid_share: float = 0.0
    invalid_tags: tuple[str, ...] = ("BAD_0001", "BAD_0002", "BAD_0003")
    car_current: float = 16.0  # A per phase a car without EV model draws (AC)
    car_power: float = 50000.0  # W a car without EV model draws (DC)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "") -> Self:
        """Every key optional (`type` and `charge_points` are the commands' own)."""
        r = _Reader(data, path)
        known = {f.name for f in fields(cls)} | {"type", "charge_points"}
        unknown = [k for k in data if k not in known]
        if unknown:
            raise PayloadError(f"{path}{str(unknown[0])[:40]}: unknown auto setting")
        base = cls()
        profile = r.raw("profile", [])
        if not isinstance(profile, list) or (profile and not any(
                isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in profile)):
            raise PayloadError(f"{r.where('profile')}: expected an array of factors >= 0, one above 0")
        sub = _Reader({str(i): v for i, v in enumerate(profile)}, f"{r.where('profile')}[")
        return cls(
            enabled=r.boolean("enabled", True),
            seed=r.integer("seed", None, minimum=0, maximum=SEED_MAX),
            rate=r.number("rate", base.rate, positive=True),
            profile=tuple(sub.number(str(i), minimum=0) for i in range(len(profile))),
            profile_period=r.number("profile_period", base.profile_period, positive=True),
            profile_offset=r.number("profile_offset", base.profile_offset, minimum=0),
            dwell=_pair(r, "dwell", base.dwell),
            tag_delay=_pair(r, "tag_delay", base.tag_delay),
            energy_kwh=_pair(r, "energy_kwh", base.energy_kwh),
            soc=_pair(r, "soc", base.soc, maximum=100.0),
            ev=_weights(r, "ev", base.ev, EV_PRESETS, allow_empty=True),
            mix=_weights(r, "mix", base.mix, AUTO_MODES),
            id_tags=_tags(r, "id_tags", base.id_tags, allow_empty=False),
            invalid_share=r.number("invalid_share", base.invalid_share, minimum=0),
            invalid_tags=_tags(r, "invalid_tags", base.invalid_tags, allow_empty=True),
            car_current=r.number("car_current", base.car_current, positive=True),
            car_power=r.number("car_power", base.car_power, positive=True),
        )._checked(r)

    def _checked(self, r: _Reader) -> Self:
        if self.invalid_share > 1:
            raise PayloadError(f"{r.where('invalid_share')}: must be <= 1, got {self.invalid_share:g}")
        if self.invalid_share > 0 and not self.invalid_tags:
            raise PayloadError(f"{r.where('invalid_tags')}: needed for an invalid_share above 0")
        if self.dwell[0] <= 0:
            raise PayloadError(f"{r.where('dwell')}: must be > 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()
                if not (k == "seed" and v is None)}

    def with_seed(self, seed: int) -> AutoSettings:
        return replace(self, seed=seed)


def derived_seed(seed: int, cp_id: str) -> int:
    """One charge point's seed in a fleet-wide run: the same (seed, id) always gives the same."""
    digest = hashlib.sha256(f"{seed}:{cp_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & SEED_MAX


class NetworkAction(StrEnum):
    DROP = "drop"
    REFUSE = "refuse"
    LATENCY = "latency"
    RESTORE = "restore"


@dataclass(frozen=True)
class NetworkFault:
    """A fault injected on the charge point's OCPP link; `duration` None: until `restore`."""

    action: NetworkAction
    duration: float | None = None
    latency_ms: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        r = _Reader(data)
        action = NetworkAction(r.string("action", choices=tuple(a.value for a in NetworkAction)))
        latency = r.number("latency_ms", None, minimum=0)
        if action is NetworkAction.LATENCY and latency is None:
            raise PayloadError("latency_ms: missing (the latency to add, in ms)")
        return cls(action, r.number("duration", None, positive=True), latency or 0.0)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action.value}
        if self.duration is not None:
            data["duration"] = self.duration
        if self.action is NetworkAction.LATENCY:
            data["latency_ms"] = self.latency_ms
        return data


# ---------------------------------------------------------------------------
# Connectors
# ---------------------------------------------------------------------------

CONNECTOR_STATES = ("Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing",
                    "Reserved", "Unavailable", "Faulted")


@dataclass
class ConnectorStatus(JsonPayload):
    """`cp_simu/cps/<id>/connectors/<n>/status` with the additive fields."""

    status: str = "Available"
    id_tag: str = ""
    max_setpoint: float = 0.0
    ocpp_setpoint: float = 0.0
    setpoint: float = 0.0
    consumption_l1: float = 0.0
    consumption_l2: float = 0.0
    consumption_l3: float = 0.0
    car_consumption_l1: float = 0.0
    car_consumption_l2: float = 0.0
    car_consumption_l3: float = 0.0
    car_cable_capacity: float = 0.0
    car_ready: bool = True
    energy_wh: float = 0.0
    power_w: float = 0.0
    transaction_id: int | str | None = None  # 1.6: the CSMS's number; 2.0.1: the station's string id
    error_code: str = "NoError"
    ocpp_status: str = ""  # the status last sent to the CSMS, in the CP's own OCPP version
    soc: float | None = None  # the EV model's state of charge (%); None without one
    ev: str = ""  # the EV model: a preset name, "custom", or "" (none)
    extra: dict[str, Any] = field(default_factory=dict)

    _NUMBERS: ClassVar[tuple[str, ...]] = (
        "max_setpoint", "ocpp_setpoint", "setpoint", "consumption_l1", "consumption_l2", "consumption_l3",
        "car_consumption_l1", "car_consumption_l2", "car_consumption_l3", "car_cable_capacity",
        "energy_wh", "power_w")

    @classmethod
    def from_payload(cls, raw: bytes | str) -> Self:
        data = decode_object(raw, "connector status")
        r = _Reader(data)
        known = {f.name for f in fields(cls)}
        tx = data.get("transaction_id")
        return cls(
            status=r.string("status"), id_tag=r.string("id_tag", ""),
            car_ready=r.boolean("car_ready", True), error_code=r.string("error_code", "NoError"),
            transaction_id=r.string("transaction_id", max_length=36) if isinstance(tx, str) else (
                r.integer("transaction_id") if tx is not None else None),
            ocpp_status=r.string("ocpp_status", ""),
            soc=None if data.get("soc") is None else r.number("soc"), ev=r.string("ev", ""),
            **{name: r.number(name, 0.0) for name in cls._NUMBERS},
            extra={k: v for k, v in data.items() if k not in known})


EV_PRESETS = ("city_car", "suv", "van", "phev", "dc_800v")  # values: chargepoint/model/ev.py
CUSTOM_EV = "custom"  # the connector status's `ev` for an EV that names no preset
MAX_EV_CAPACITY_KWH = 1000.0
MAX_EV_POWER_W = 1_000_000.0
MAX_EV_CURRENT_A = 1000.0
MAX_CURVE_POINTS = 500  # of a charging curve (a real one has a few dozen)


@dataclass(frozen=True)
class EvSettings:
    """The car payload's `ev`: a preset (or none: a custom EV) and the values that override it
    (None: the preset's, or the custom defaults)."""

    preset: str = ""
    capacity_kwh: float | None = None
    soc: float | None = None  # initial state of charge, %
    target_soc: float | None = None  # %
    ac_max_current: float | None = None  # A per phase
    ac_phases: int | None = None
    dc_max_power: float | None = None  # W
    efficiency: float | None = None  # share of the energy drawn that reaches the battery
    curve: tuple[tuple[float, float], ...] | None = None  # (SoC %, max W drawn), SoC ascending

    KEYS: ClassVar[tuple[str, ...]] = ("preset", "capacity_kwh", "soc", "target_soc", "ac_max_current",
                                       "ac_phases", "dc_max_power", "efficiency", "curve")

    @property
    def name(self) -> str:
        """What the connector status's `ev` shows: the preset's name, or "custom"."""
        return self.preset or CUSTOM_EV

    @classmethod
    def parse(cls, value: object, where: str = "ev") -> Self:
        """A preset name, or an object of optional keys (numbers int or float)."""
        if isinstance(value, str):
            return cls(_Reader({where: value}).string(where, choices=EV_PRESETS))
        if not isinstance(value, Mapping):
            raise PayloadError(f"{where}: expected a preset name or an object, got {_json_type(value)}")
        unknown = sorted(set(value) - set(cls.KEYS))
        if unknown:
            raise PayloadError(f"{where}: unknown key {unknown[0][:40]!r} (known: {', '.join(cls.KEYS)})")
        r = _Reader(value, f"{where}.")
        return cls(
            preset=r.string("preset", "", choices=EV_PRESETS),
            capacity_kwh=r.number("capacity_kwh", None, maximum=MAX_EV_CAPACITY_KWH, positive=True),
            soc=r.number("soc", None, minimum=0, maximum=100),
            target_soc=r.number("target_soc", None, minimum=0, maximum=100),
            ac_max_current=r.number("ac_max_current", None, minimum=0, maximum=MAX_EV_CURRENT_A),
            ac_phases=r.integer("ac_phases", None, minimum=1, maximum=3),
            dc_max_power=r.number("dc_max_power", None, minimum=0, maximum=MAX_EV_POWER_W),
            efficiency=r.number("efficiency", None, maximum=1, positive=True),
            curve=_curve(r) if "curve" in value else None,
        )

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v not in (None, "")}
        if self.curve is not None:
            data["curve"] = [list(point) for point in self.curve]
        return data


def _curve(r: _Reader) -> tuple[tuple[float, float], ...]:
    """`[[soc %, max W], ...]`: at least one point, SoC strictly ascending within 0..100."""
    points = r.array("curve")
    if not points:
        raise PayloadError(f"{r.where('curve')}: needs at least one [soc, W] point")
    if len(points) > MAX_CURVE_POINTS:
        raise PayloadError(f"{r.where('curve')}: {len(points)} points, more than the {MAX_CURVE_POINTS} allowed")
    curve: list[tuple[float, float]] = []
    for i, point in enumerate(points):
        where = f"{r.where('curve')}[{i}]"
        if not isinstance(point, list) or len(point) != 2:
            raise PayloadError(f"{where}: expected a [soc %, max W] pair, got {json.dumps(point)[:40]}")
        pair = _Reader({"soc": point[0], "W": point[1]}, f"{where}.")
        soc = pair.number("soc", minimum=0, maximum=100)
        if curve and soc <= curve[-1][0]:
            raise PayloadError(f"{where}: SoC values must ascend, got {soc:g} after {curve[-1][0]:g}")
        curve.append((soc, pair.number("W", minimum=0, maximum=MAX_EV_POWER_W)))
    return tuple(curve)


@dataclass
class CarInput:
    """`.../connectors/<n>/car`: every field optional; absent means unchanged. `ev` replaces
    the car's EV model; `remove_ev` (`"ev": null` or `""`) goes back to plain consumption."""

    cable: float | None = None
    ready: bool | None = None
    consumption_l1: float | None = None
    consumption_l2: float | None = None
    consumption_l3: float | None = None
    ev: EvSettings | None = None
    remove_ev: bool = False

    @classmethod
    def parse(cls, raw: bytes | str) -> Self:
        data = decode_object(raw, "car", limit=CONNECTOR_INPUT_LIMIT)
        r = _Reader(data)
        ev = data.get("ev")
        return cls(
            cable=r.number("cable", None, minimum=0),
            ready=r.boolean("ready", None),
            consumption_l1=r.number("consumption_l1", None, minimum=0),
            consumption_l2=r.number("consumption_l2", None, minimum=0),
            consumption_l3=r.number("consumption_l3", None, minimum=0),
            ev=None if ev in (None, "") else EvSettings.parse(ev),
            remove_ev="ev" in data and ev in (None, ""),
        )

    def to_json(self) -> str:
        data: dict[str, Any] = {k: v for k, v in asdict(self).items()
                                if v is not None and k not in ("ev", "remove_ev")}
        if self.ev is not None:
            plain_preset = self.ev.preset and self.ev == EvSettings(self.ev.preset)
            data["ev"] = self.ev.preset if plain_preset else self.ev.to_dict()
        elif self.remove_ev:
            data["ev"] = None
        return json.dumps(data)


# The longest id tag each OCPP version carries: IdToken is CiString20 in 1.6, 36 characters in 2.0.1.
ID_TAG_MAX_LENGTH = {"1.6": 20, "2.0.1": 36}
# What kind of identifier an id tag is (OCPP 2.0.1 IdTokenEnumType); 1.6 has no such notion.
ID_TOKEN_TYPES = ("Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization")


@dataclass
class IdTagInput:
    """`.../connectors/<n>/id_tag`: an RFID card presented at that connector; `type` (2.0.1
    IdTokenEnum, default ISO14443) says what kind of identifier it is."""

    id: str
    type: str | None = None

    @classmethod
    def parse(cls, raw: bytes | str) -> Self:
        r = _Reader(decode_object(raw, "id_tag", limit=CONNECTOR_INPUT_LIMIT))
        return cls(r.string("id", max_length=max(ID_TAG_MAX_LENGTH.values()), non_empty=True),
                   r.string("type", None, choices=ID_TOKEN_TYPES))

    def check_length(self, ocpp_version: str) -> None:
        """A PayloadError if that OCPP version cannot carry this id tag."""
        limit = ID_TAG_MAX_LENGTH.get(ocpp_version, max(ID_TAG_MAX_LENGTH.values()))
        if len(self.id) > limit:
            raise PayloadError(f"id: {len(self.id)} characters, longer than the {limit} an OCPP {ocpp_version} "
                               "id tag can carry")

    def to_json(self) -> str:
        return json.dumps({"id": self.id} | ({} if self.type is None else {"type": self.type}))


@dataclass
class FaultedInput:
    """`.../connectors/<n>/faulted`."""

    faulted: bool

    @classmethod
    def parse(cls, raw: bytes | str) -> Self:
        return cls(_Reader(decode_object(raw, "faulted", limit=CONNECTOR_INPUT_LIMIT)).boolean("faulted"))

    def to_json(self) -> str:
        return json.dumps({"faulted": self.faulted})


def parse_connector_number(parsed: ParsedTopic, nb_connectors: int) -> int:
    """The connector number of an input topic: 1..nb_connectors, or a PayloadError."""
    number = parsed.connector_number
    if number is None or number > nb_connectors:
        raise PayloadError(f"connector: unknown connector {str(parsed.connector)[:20]!r} (this charge point has "
                           f"connectors 1..{nb_connectors})")
    return number


# ---------------------------------------------------------------------------
# Call statistics (cps/<id>/stats, launcher/stats)
# ---------------------------------------------------------------------------

@dataclass
class StatsReport:
    """A charge point's `stats` (its calls since its process started) or the launcher's
    (its fleet's, merged): round-trip times per action and outcome as fixed-bucket
    histograms (`cp_simu.latency`), with the sessions running and the power delivered."""

    time: float  # epoch s, when published
    started: float  # epoch s the counts start from: the process start (a new one starts from 0)
    calls: CallLatencies
    sessions: int = 0
    power_w: float = 0.0
    cps: int = 1  # charge points counted
    scheme: str = LATENCY_SCHEME

    def to_dict(self) -> dict[str, Any]:
        return {"time": round(self.time, 3), "started": round(self.started, 3), "cps": self.cps,
                "sessions": self.sessions, "power_w": round(self.power_w, 1), "scheme": self.scheme,
                "calls": self.calls.to_dict()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], what: str = "stats") -> Self:
        r = _Reader(data)
        scheme = r.string("scheme")
        if scheme != LATENCY_SCHEME:
            raise PayloadError(f"scheme: {scheme[:40]!r} histograms cannot be merged with {LATENCY_SCHEME!r} ones")
        try:
            calls = CallLatencies.from_dict(r.raw("calls"))
        except ValueError as exc:
            raise PayloadError(f"{what}: {exc}") from None
        return cls(time=r.number("time", minimum=0), started=r.number("started", minimum=0), calls=calls,
                   sessions=r.integer("sessions", 0, minimum=0), power_w=r.number("power_w", 0.0),
                   cps=r.integer("cps", 1, minimum=0), scheme=scheme)

    @classmethod
    def from_payload(cls, raw: bytes | str) -> Self:
        return cls.from_dict(decode_object(raw, "stats"))


# ---------------------------------------------------------------------------
# Errors and setups
# ---------------------------------------------------------------------------

@dataclass
class ErrorReport(JsonPayload):
    """Non-retained message on a component's `error` topic for an input it rejected."""

    topic: str
    error: str
    payload: str

    @classmethod
    def about(cls, topic: str, error: str, raw: bytes | str) -> Self:
        """The error and the sender's payload with its secrets masked (the topic is readable by all)."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else raw
        return cls(topic=topic, error=redact.text(error), payload=excerpt(redact.text(text)))


@dataclass
class Setup:
    """Setup files: `{"charge_points": [start entries]}`, the reference's format, with an
    optional `"launcher": NAME` naming the launcher meant to run them ("" = the unnamed one)."""

    charge_points: list[ChargePointDefinition]
    launcher: str = ""
    cps_per_process: int | None = None
    ramp: float | None = None

    @classmethod
    def parse(cls, raw: bytes | str, defaults: Mapping[str, Any] | None = None) -> Self:
        """`defaults` (config.ini) fill the keys an entry omits, as for a start command."""
        r = _Reader(decode_object(raw, "setup"))
        launcher = validate_launcher_name(r.string("launcher", ""))
        packing = _cps_per_process(r)
        ramp = _ramp(r)
        entries = r.array("charge_points")
        problems, definitions = [], []
        for i, entry in enumerate(entries):
            try:
                definitions.append(ChargePointDefinition.from_dict(entry, defaults, path=f"charge_points[{i}]."))
            except PayloadError as exc:
                problems.append(str(exc))
        if problems:
            raise PayloadError("; ".join(problems))
        return cls(definitions, launcher, packing, ramp)

    def to_json(self) -> str:
        target = {"launcher": self.launcher} if self.launcher else {}
        packing = {} if self.cps_per_process is None else {"cps_per_process": self.cps_per_process}
        ramp = {} if self.ramp is None else {"ramp": self.ramp}
        return json.dumps({**target, **packing, **ramp, "charge_points": [d.to_dict() for d in self.charge_points]},
                          indent=2)

    def start_command(self) -> LauncherCommand:
        return LauncherCommand(LauncherCommandType.START, list(self.charge_points),
                               [d.id for d in self.charge_points], self.cps_per_process, self.ramp)
