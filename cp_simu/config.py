"""config.ini: the template every charge point's configuration is copied from.

Loaded and validated here, for the launcher (template + definition → instance file) and the
charge point (instance file → definition, OCPP keys, MQTT and simulation settings). The
[Ocpp] section stays a map of strings: what each key means is the charge point's business.
"""

from __future__ import annotations

import configparser
import io
import itertools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cp_simu import durability
from cp_simu.models import ChargePointDefinition, PayloadError
from cp_simu.security_settings import SECTION_SECURITY, SecuritySettings, SecuritySettingsError
from cp_simu.topics import DEFAULT_ROOT
from cp_simu.urls import DEFAULT_BROKER_URL, BrokerUrl

SECTION_CP = "ChargePoint"
SECTION_OCPP = "Ocpp"
SECTION_MQTT = "Mqtt"
SECTION_SIMULATION = "Simulation"
INSTANCE_FILE = "config.ini"

# Keys and values written into an instance file come from MQTT: a line break (configparser
# reads "\r" as one) or an odd key could inject a section such as [Mqtt].
_SAFE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_OCPP_INTEGER = re.compile(r"[+-]?[0-9]+")
INT32 = (-(2 ** 31), 2 ** 31 - 1)

_MQTT_SECURITY_KEYS = ("username", "password_file", "ca_file", "client_cert", "client_key")

# Keys of [ChargePoint] that are numbers in a definition (INI holds only text).
_CP_NUMBERS = {"nb_connectors": int, "nb_phases": int, "voltage": float, "max_setpoint": float,
               "max_setpoint_per_connector": float}


class ConfigError(ValueError):
    """config.ini is missing, unreadable or holds a bad value; the message says where."""


@dataclass(frozen=True)
class MqttSettings:
    """[Mqtt]: `broker` as written (a user:password in it is kept, never copied to an
    instance); the security keys are read by cp_simu.broker_access."""

    broker: str = DEFAULT_BROKER_URL
    root: str = DEFAULT_ROOT
    keepalive: int = 15
    launcher: str = ""  # an instance's: the name of the launcher that runs it ("" = unnamed)
    username: str = ""
    password_file: str = ""
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""


@dataclass(frozen=True)
class SimulationSettings:
    status_refresh_interval: float = 1.0
    power_factor: float = 1.0
    ca_file: str = ""
    log_max_bytes: int = 2_000_000
    log_backups: int = 3
    stats_interval: float = 5.0  # s: a charge point publishes its call statistics at most this often


@dataclass
class SimuConfig:
    """A parsed config.ini (template or instance)."""

    path: Path | None
    charge_point: dict[str, Any]  # typed [ChargePoint] values, definition keys and identity extras
    ocpp: dict[str, str]
    mqtt: MqttSettings
    simulation: SimulationSettings
    security: SecuritySettings = field(default_factory=SecuritySettings)
    parser: configparser.ConfigParser = field(repr=False, default_factory=configparser.ConfigParser)
    _texts: dict[str, str] = field(init=False, repr=False, compare=False, default_factory=dict)  # section_text

    def definition(self) -> ChargePointDefinition:
        """The instance's charge point definition (needs an `id` in [ChargePoint])."""
        try:
            return ChargePointDefinition.from_dict(self.charge_point, path=f"[{SECTION_CP}] ")
        except PayloadError as exc:
            raise ConfigError(f"{self.path}: {exc}") from None

    def definition_defaults(self) -> dict[str, Any]:
        """Values a start command's entry takes for the keys it omits."""
        return {k: v for k, v in self.charge_point.items() if k in ChargePointDefinition.KNOWN and k != "id"}

    def section_names(self) -> list[str]:
        """The sections as configparser writes them: DEFAULT first when it has keys."""
        defaults = [self.parser.default_section] if self.parser.defaults() else []
        return [*defaults, *self.parser.sections()]

    def own_items(self, section: str) -> dict[str, str]:
        """A section's own keys, as written (those inherited unchanged from DEFAULT left out)."""
        if section == self.parser.default_section:
            return dict(self.parser.defaults())
        if not self.parser.has_section(section):
            return {}
        defaults = self.parser.defaults()
        return {k: v for k, v in self.parser.items(section, raw=True) if defaults.get(k) != v}

    def section_text(self, section: str) -> str:
        """A section rendered as in config.ini (computed once per section)."""
        if section not in self._texts:
            self._texts[section] = _section_text(section, self.own_items(section).items())
        return self._texts[section]


def ocpp_integer(text: str) -> int | None:
    """An integer configuration value as OCPP writes it: ASCII digits with an optional sign,
    within 32 bits; else None. (int() also reads "1_0", "３０" and "٣٠", and any size.)"""
    text = text.strip()
    if not _OCPP_INTEGER.fullmatch(text):
        return None
    number = int(text)
    return number if INT32[0] <= number <= INT32[1] else None


def _new_parser() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # OCPP keys are case-sensitive
    return parser


def default_template_text() -> str:
    """The config.ini shipped in the package (a copy of the repository's template)."""
    return resources.files("cp_simu").joinpath("default_config.ini").read_text()


def _typed_cp_section(section: Mapping[str, str], where: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, text in section.items():
        if key in _CP_NUMBERS:
            try:
                values[key] = _CP_NUMBERS[key](text)
            except ValueError:
                raise ConfigError(f"{where} [{SECTION_CP}] {key}: expected a number, got {text!r}") from None
        else:
            values[key] = text
    return values


def _items(parser: configparser.ConfigParser, section: str) -> dict[str, str]:
    """A section's keys and values ({} without it); `items()` reads them in one go, where a
    section proxy looks each one up again (a launcher's fork server reads thousands)."""
    return dict(parser.items(section, raw=True)) if parser.has_section(section) else {}


def parse_config(text: str, path: Path | None = None) -> SimuConfig:
    where = str(path or "config.ini")
    parser = _new_parser()
    try:
        parser.read_string(text, source=where)
    except configparser.Error as exc:
        raise ConfigError(f"{where}: {exc}") from None
    cp = _typed_cp_section(_items(parser, SECTION_CP), where)
    if "id" not in cp:  # validate the defaults a start command will inherit
        try:
            ChargePointDefinition.from_dict({**cp, "id": "template"}, path=f"{where} [{SECTION_CP}] ")
        except PayloadError as exc:
            raise ConfigError(str(exc)) from None
    mqtt_section = _items(parser, SECTION_MQTT)
    sim_section = _items(parser, SECTION_SIMULATION)
    try:
        broker = mqtt_section.get("broker", DEFAULT_BROKER_URL) or DEFAULT_BROKER_URL
        BrokerUrl.parse(broker)  # validated here, kept as written
        mqtt = MqttSettings(
            broker=broker, root=mqtt_section.get("root", DEFAULT_ROOT) or DEFAULT_ROOT,
            keepalive=int(mqtt_section.get("keepalive", 15)),
            launcher=mqtt_section.get("launcher", ""),
            **{key: mqtt_section.get(key, "") for key in _MQTT_SECURITY_KEYS})
        defaults = SimulationSettings()
        simulation = SimulationSettings(
            status_refresh_interval=float(sim_section.get("status_refresh_interval",
                                                          defaults.status_refresh_interval)),
            power_factor=float(sim_section.get("power_factor", defaults.power_factor)),
            ca_file=sim_section.get("ca_file", ""),
            log_max_bytes=int(sim_section.get("log_max_bytes", defaults.log_max_bytes)),
            log_backups=int(sim_section.get("log_backups", defaults.log_backups)),
            stats_interval=float(sim_section.get("stats_interval", defaults.stats_interval)))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if not 0 < simulation.power_factor <= 1:
        raise ConfigError(f"{where} [{SECTION_SIMULATION}] power_factor: must be in (0, 1]")
    if simulation.status_refresh_interval <= 0:
        raise ConfigError(f"{where} [{SECTION_SIMULATION}] status_refresh_interval: must be > 0")
    if simulation.stats_interval <= 0:
        raise ConfigError(f"{where} [{SECTION_SIMULATION}] stats_interval: must be > 0")
    try:
        security = SecuritySettings.from_mapping(
            _items(parser, SECTION_SECURITY),
            f"{where} [{SECTION_SECURITY}] ")
    except SecuritySettingsError as exc:
        raise ConfigError(str(exc)) from None
    ocpp = _items(parser, SECTION_OCPP)
    return SimuConfig(path, cp, ocpp, mqtt, simulation, security, parser)


def load_config(path: str | Path | None = None) -> SimuConfig:
    """Load a config.ini; None means the packaged default template."""
    if path is None:
        return parse_config(default_template_text())
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return parse_config(text, path)


def atomic_write(path: Path, text: str, *, durable: bool = True) -> None:
    """Write a file so a crash leaves either the old or the new content, never half. The file
    is readable by its owner only (mode 0600). `durable=False` skips the flush to disk (tens
    of ms on a busy disk) for a file that is worthless after a power loss anyway (a new
    instance's config.ini, a running process's marker).

    The temporary file's name is this process's (pid and a counter): no random names, which a
    freshly forked charge point would first have to seed a generator for."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_temporary_names)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            break
        except FileExistsError:  # left behind by a killed process that had this pid
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode())
            f.flush()
            if durable:
                durability.sync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_temporary_names = itertools.count()


def _render(parser: configparser.ConfigParser) -> str:
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


def _section_text(name: str, items: Iterable[tuple[str, str]]) -> str:
    """One section as configparser writes it (a value's line breaks continued with a tab)."""
    lines = [f"[{name}]", *(f"{key} = " + value.replace("\n", "\n\t") for key, value in items)]
    return "\n".join(lines) + "\n\n"


def write_instance_config(template: SimuConfig, definition: ChargePointDefinition, directory: Path,
                          broker: str | None = None, root: str | None = None,
                          launcher: str | None = None) -> Path:
    """Instance config.ini = template with the definition written into [ChargePoint], and its
    security keys into [Security] (over the template's); a 2.0.1 charge point also gets its
    device_model.json (the one beside the template, else the default). The file is private
    (mode 0600): it may hold a password.

    The broker URL is written without user name and password (a charge point gets them
    from its environment). Raises ConfigError, before writing anything, for a key or value that could not be
    written back as one line of [ChargePoint].
    """
    entry = definition.to_dict()
    security_keys = SecuritySettings.keys()
    given_security = {k: entry.pop(k) for k in security_keys if k in entry}
    try:
        security = SecuritySettings.from_mapping({**template.security.to_ini(), **given_security})
    except SecuritySettingsError as exc:
        raise ConfigError(f"[{SECTION_SECURITY}] {exc}") from None
    values = {k: str(v) for k, v in entry.items() if not isinstance(v, dict | list)}
    for key, text in values.items():
        if not _SAFE_KEY.match(key):
            raise ConfigError(f"[{SECTION_CP}] {key[:40]!r}: not a valid key (letters, digits, _)")
        if _CONTROL.search(text):
            raise ConfigError(f"[{SECTION_CP}] {key}: control characters are not allowed")
    mqtt = template.own_items(SECTION_MQTT)
    try:
        mqtt["broker"] = str(BrokerUrl.parse(broker or template.mqtt.broker))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if root:
        mqtt["root"] = root
    if launcher is not None:
        mqtt["launcher"] = launcher
    # The template's other sections as it was rendered once: a launcher writes thousands.
    changed = {SECTION_CP: {**template.own_items(SECTION_CP), **values}, SECTION_SECURITY: security.to_ini(),
               SECTION_MQTT: mqtt}
    text = "".join(template.section_text(name) if name not in changed else _section_text(name, changed[name].items())
                   for name in dict.fromkeys([*template.section_names(), *changed]))
    target = directory / INSTANCE_FILE
    if definition.ocpp_version == "2.0.1":
        from cp_simu import device_model_file  # jsonschema stays out of 1.6-only processes

        device_model_file.copy_template(template.path, directory)
    atomic_write(target, text, durable=False)  # a start: a new directory, nothing to lose
    return target


def instance_launcher(directory: Path) -> str:
    """The launcher name an instance directory's config.ini records ("" = the unnamed one)."""
    parser = _new_parser()
    try:
        parser.read(directory / INSTANCE_FILE)
    except configparser.Error:
        return ""
    return parser.get(SECTION_MQTT, "launcher", fallback="")


def update_section(path: Path, section: str, values: Mapping[str, str]) -> None:
    """Persist changed keys of one section (e.g. ChangeConfiguration) keeping the rest."""
    parser = _new_parser()
    parser.read(path)
    if not parser.has_section(section):
        parser.add_section(section)
    for key, value in values.items():
        parser[section][key] = value
    atomic_write(path, _render(parser))
