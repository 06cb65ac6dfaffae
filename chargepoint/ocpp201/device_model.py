"""The OCPP 2.0.1 device model: one generic store of components, variables and attributes.

The data comes from the instance's device_model.json (a copy of the shipped defaults, see
`cp_simu.device_model_file`); components with scope `evse` / `connector` are repeated for
every EVSE when the file is first loaded, and the file is rewritten with the concrete
components and every value that changes, so a restart finds what the CSMS set.

Two kinds of writers use the same store:
- the CSMS, through `set_variables` (mutability, data type, values list and limits checked);
- the station, through `update` (a value it owns, e.g. a read-only one) or `provide` (a live
  value read when asked, never stored, e.g. the clock or an EVSE's power).
Functions in `listeners` hear `(flat key, value)` after every accepted change of an Actual
value, so the adapter reacts (a new HeartbeatInterval reschedules the heartbeat...).
GetVariables, SetVariables, reports and the flat `ocpp_config` view all walk this one store.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from chargepoint.model.smart_charging import parse_datetime
from cp_simu.config import ConfigError, atomic_write, ocpp_integer
from cp_simu.device_model_file import DEVICE_MODEL_FILE, copy_template, parse

log = logging.getLogger(__name__)

ACTUAL = "Actual"
ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")
READ_ONLY, WRITE_ONLY, READ_WRITE = "ReadOnly", "WriteOnly", "ReadWrite"
# Variables that say whether a component is in a good state (SummaryInventory, componentCriteria).
STATE_VARIABLES = frozenset({"AvailabilityState", "Available", "Active", "Problem", "Tripped", "Overload", "Fallback"})
CRITERIA = {"Active": "Active", "Available": "Available", "Enabled": "Enabled", "Problem": "Problem"}


class Status(StrEnum):
    """GetVariableStatusEnumType and SetVariableStatusEnumType together."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_COMPONENT = "UnknownComponent"
    UNKNOWN_VARIABLE = "UnknownVariable"
    NOT_SUPPORTED_ATTRIBUTE_TYPE = "NotSupportedAttributeType"
    REBOOT_REQUIRED = "RebootRequired"


class InvalidValue(ValueError):
    """A value a variable's characteristics refuse; `reason` is a StatusInfo reasonCode."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ComponentRef:
    """A component as OCPP names it: name, optional instance, optional EVSE and connector."""

    name: str
    instance: str | None = None
    evse: int | None = None
    connector: int | None = None

    @property
    def key(self) -> str:
        """`Component[:instance][@evse[.connector]]`."""
        key = self.name + (f":{self.instance}" if self.instance else "")
        if self.evse is not None:
            key += f"@{self.evse}" + (f".{self.connector}" if self.connector is not None else "")
        return key

    def wire(self) -> dict[str, Any]:
        """ComponentType (camelCase)."""
        out: dict[str, Any] = {"name": self.name}
        if self.instance:
            out["instance"] = self.instance
        if self.evse is not None:
            out["evse"] = {"id": self.evse} | ({"connectorId": self.connector} if self.connector is not None else {})
        return out


@dataclass(frozen=True)
class Characteristics:
    data_type: str
    supports_monitoring: bool
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: tuple[str, ...] | None = None

    def normalized(self, value: str) -> str:
        """`value` in canonical spelling if the characteristics allow it, else InvalidValue."""
        kind = self.data_type
        if kind == "integer":
            number = ocpp_integer(value)
            if number is None:
                raise InvalidValue("InvalidValue", f"{value[:40]!r} is not a 32-bit integer")
            self._in_limits(number)
            return str(number)
        if kind == "decimal":
            try:
                number = float(value)
            except ValueError:
                raise InvalidValue("InvalidValue", f"{value!r} is not a decimal") from None
            if not math.isfinite(number):
                raise InvalidValue("InvalidValue", f"{value!r} is not a finite decimal")
            self._in_limits(number)
            return value.strip()
        if kind == "boolean":
            if value.strip().lower() not in ("true", "false"):
                raise InvalidValue("InvalidValue", f"{value!r} is not true or false")
            return value.strip().lower()
        if kind == "dateTime":
            if value:
                try:
                    parse_datetime(value)
                except ValueError:
                    raise InvalidValue("InvalidValue", f"{value!r} is not an RFC 3339 date and time") from None
            return value
        if kind == "OptionList":
            if self.values_list is not None and value not in self.values_list:
                raise InvalidValue("NotInValuesList", f"{value!r} is not one of {','.join(self.values_list)}")
            return value
        if kind in ("MemberList", "SequenceList"):
            items = [item.strip() for item in value.split(",")] if value.strip() else []
            unknown = [i for i in items if self.values_list is not None and i not in self.values_list]
            if unknown:
                raise InvalidValue("NotInValuesList", f"{', '.join(unknown)} not in {','.join(self.values_list or ())}")
            if kind == "MemberList" and len(set(items)) != len(items):
                raise InvalidValue("InvalidValue", f"{value!r} lists a member twice")
            return ",".join(items)
        self._in_limits(len(value), "length of ")
        return value

    def _in_limits(self, number: float, what: str = "") -> None:
        if self.min_limit is not None and number < self.min_limit:
            raise InvalidValue("ValueTooLow", f"{what}{number:g} is below minLimit {self.min_limit:g}")
        if self.max_limit is not None and number > self.max_limit:
            raise InvalidValue("ValueTooHigh", f"{what}{number:g} is above maxLimit {self.max_limit:g}")

    def wire(self) -> dict[str, Any]:
        """VariableCharacteristicsType (camelCase)."""
        out: dict[str, Any] = {"dataType": self.data_type, "supportsMonitoring": self.supports_monitoring}
        if self.unit is not None:
            out["unit"] = self.unit
        if self.min_limit is not None:
            out["minLimit"] = self.min_limit
        if self.max_limit is not None:
            out["maxLimit"] = self.max_limit
        if self.values_list is not None:
            out["valuesList"] = ",".join(self.values_list)
        return out

    def to_document(self) -> dict[str, Any]:
        out = self.wire()
        return {"dataType": out.pop("dataType"), **out}

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> Characteristics:
        values = data.get("valuesList")
        return cls(data["dataType"], data["supportsMonitoring"], data.get("unit"), data.get("minLimit"),
                   data.get("maxLimit"), None if values is None else tuple(v.strip() for v in values.split(",")))


@dataclass
class Attribute:
    type: str
    mutability: str
    value: str | None = None
    persistent: bool = True
    constant: bool = False

    @property
    def readable(self) -> bool:
        return self.mutability != WRITE_ONLY

    @property
    def writable(self) -> bool:
        return self.mutability != READ_ONLY


@dataclass
class Variable:
    component: ComponentRef
    name: str
    characteristics: Characteristics
    attributes: dict[str, Attribute]
    instance: str | None = None
    required: bool = False
    reboot_required: bool = False
    description: str = ""

    @property
    def key(self) -> str:
        """`Component[:instance][@evse[.connector]]/Variable[:instance]`, the flat view's key."""
        return f"{self.component.key}/{self.name}" + (f":{self.instance}" if self.instance else "")

    def wire(self) -> dict[str, Any]:
        """VariableType (camelCase)."""
        return {"name": self.name} | ({"instance": self.instance} if self.instance else {})

    def to_document(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.instance:
            out["instance"] = self.instance
        out["required"] = self.required
        if self.reboot_required:
            out["rebootRequired"] = True
        out["description"] = self.description
        out["characteristics"] = self.characteristics.to_document()
        attributes = []
        for a in self.attributes.values():
            item: dict[str, Any] = {"type": a.type, "mutability": a.mutability}
            if a.value is not None:
                item["value"] = a.value
            if not a.persistent:
                item["persistent"] = False
            if a.constant:
                item["constant"] = True
            attributes.append(item)
        out["attributes"] = attributes
        return out


@dataclass(frozen=True)
class Result:
    """The outcome of one GetVariables / SetVariables item."""

    status: Status
    value: str | None = None
    reason: str | None = None  # StatusInfo reasonCode
    detail: str | None = None  # StatusInfo additionalInfo

    @property
    def ok(self) -> bool:
        return self.status in (Status.ACCEPTED, Status.REBOOT_REQUIRED)


@dataclass(frozen=True)
class Change:
    """One item of a SetVariables request."""

    component: ComponentRef
    variable: str
    value: str
    instance: str | None = None
    attribute: str = ACTUAL


Listener = Callable[[str, str], None]  # (flat key, new Actual value)


@dataclass
class _Component:
    ref: ComponentRef
    description: str
    variables: list[Variable] = field(default_factory=list)


class DeviceModel:
    """Every component and variable of one charging station, persisted in `path`."""

    def __init__(self, components: Iterable[_Component], path: Path | None = None) -> None:
        self.path = path
        self._components: dict[ComponentRef, _Component] = {}
        self._variables: dict[str, Variable] = {}
        for component in components:
            if component.ref in self._components:
                raise ConfigError(f"{path}: component {component.ref.key} appears twice")
            self._components[component.ref] = component
            for variable in component.variables:
                if variable.key in self._variables:
                    raise ConfigError(f"{path}: variable {variable.key} appears twice")
                self._variables[variable.key] = variable
                for attribute in variable.attributes.values():
                    if attribute.value is not None:
                        try:
                            attribute.value = variable.characteristics.normalized(attribute.value)
                        except InvalidValue as exc:
                            raise ConfigError(f"{path}: {variable.key} {attribute.type}: {exc}") from None
        self._providers: dict[tuple[str, str], Callable[[], object]] = {}
        self.listeners: list[Listener] = []

    # -- loading and saving -----------------------------------------------------------------

    @classmethod
    def load(cls, directory: Path, nb_evse: int) -> DeviceModel:
        """The instance's device_model.json (the default is copied in when there is none);
        ConfigError when it is not valid. Per-EVSE components are expanded and written back."""
        path = directory / DEVICE_MODEL_FILE
        if not path.exists():
            copy_template(None, directory)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        document = parse(text, str(path))
        model = cls.from_document(document, nb_evse, path)
        if any("scope" in c for c in document["components"]):
            model.save()
        return model

    @classmethod
    def from_document(cls, document: dict[str, Any], nb_evse: int, path: Path | None = None) -> DeviceModel:
        """A store from a schema-checked document; `scope` components repeated for EVSEs 1..nb_evse."""
        components: list[_Component] = []
        for data in document["components"]:
            scope = data.get("scope", "station")
            if "evse" in data:
                refs = [ComponentRef(data["name"], data.get("instance"), data["evse"]["id"],
                                     data["evse"].get("connectorId"))]
            elif scope == "station":
                refs = [ComponentRef(data["name"], data.get("instance"))]
            else:
                refs = [ComponentRef(data["name"], data.get("instance"), n, 1 if scope == "connector" else None)
                        for n in range(1, nb_evse + 1)]
            for ref in refs:
                components.append(_Component(ref, data.get("description", ""), [
                    Variable(ref, v["name"], Characteristics.from_document(v["characteristics"]),
                             {a["type"]: Attribute(a["type"], a["mutability"], a.get("value"),
                                                   a.get("persistent", True), a.get("constant", False))
                              for a in v["attributes"]},
                             v.get("instance"), v.get("required", False), v.get("rebootRequired", False),
                             v.get("description", ""))
                    for v in data["variables"]]))
        return cls(components, path)

    def to_document(self) -> dict[str, Any]:
        components = []
        for c in self._components.values():
            out: dict[str, Any] = {"name": c.ref.name}
            if c.ref.instance:
                out["instance"] = c.ref.instance
            if c.ref.evse is not None:
                out["evse"] = c.ref.wire()["evse"]
            out["description"] = c.description
            out["variables"] = [v.to_document() for v in c.variables]
            components.append(out)
        return {"version": 1, "components": components}

    def save(self) -> None:
        """Rewrite the instance file (atomically; mode 0600, it may hold a password)."""
        if self.path is not None:
            atomic_write(self.path, json.dumps(self.to_document(), indent=1, ensure_ascii=False) + "\n")

    # -- the station's side -----------------------------------------------------------------

    def __contains__(self, key: str) -> bool:
        return key in self._variables

    def __iter__(self) -> Iterator[Variable]:
        return iter(self._variables.values())

    def __len__(self) -> int:
        return len(self._variables)

    def variable(self, key: str) -> Variable:
        """By flat key (`OCPPCommCtrlr/HeartbeatInterval`); KeyError if there is none."""
        return self._variables[key]

    def actual(self, key: str) -> str | None:
        """The Actual value, None for an unknown key or a variable without a readable one."""
        variable = self._variables.get(key)
        if variable is None or ACTUAL not in variable.attributes or not variable.attributes[ACTUAL].readable:
            return None
        return self.value(key)

    def value(self, key: str, attribute: str = ACTUAL) -> str:
        """The current value ("" when unset); a provided value is read now."""
        variable = self._variables[key]
        if attribute not in variable.attributes:
            raise KeyError(f"{key} has no {attribute} attribute")
        provider = self._providers.get((key, attribute))
        if provider is not None:
            return _text(provider())
        return variable.attributes[attribute].value or ""

    def integer(self, key: str, attribute: str = ACTUAL) -> int:
        return int(self.value(key, attribute))

    def decimal(self, key: str, attribute: str = ACTUAL) -> float:
        return float(self.value(key, attribute))

    def boolean(self, key: str, attribute: str = ACTUAL) -> bool:
        return self.value(key, attribute) == "true"

    def members(self, key: str, attribute: str = ACTUAL) -> list[str]:
        """A MemberList / SequenceList value as a list (empty for "")."""
        text = self.value(key, attribute)
        return [item for item in text.split(",") if item] if text else []

    def update(self, key: str, value: object, attribute: str = ACTUAL) -> None:
        """The station sets a value it owns (mutability not checked, characteristics are):
        stored, persisted if it changed, listeners told. InvalidValue if refused."""
        self.update_many({(key, attribute): value})

    def update_many(self, values: dict[tuple[str, str], object]) -> None:
        """`update` for several (key, attribute) at once, with one write of the file."""
        changed = []
        for (key, attribute), value in values.items():
            variable = self._variables[key]
            if attribute not in variable.attributes:
                raise KeyError(f"{key} has no {attribute} attribute")
            text = variable.characteristics.normalized(_text(value))
            if variable.attributes[attribute].value != text:
                variable.attributes[attribute].value = text
                changed.append((variable, attribute, text))
        if changed:
            self.save()
            for variable, attribute, text in changed:
                self._notify(variable, attribute, text)

    def set_actual(self, key: str, value: object) -> None:
        self.update(key, value)

    def provide(self, key: str, source: Callable[[], object], attribute: str = ACTUAL) -> None:
        """`source()` gives the value whenever it is read (live values: clock, power, entries)."""
        if attribute not in self._variables[key].attributes:
            raise KeyError(f"{key} has no {attribute} attribute")
        self._providers[(key, attribute)] = source

    def _notify(self, variable: Variable, attribute: str, value: str) -> None:
        if attribute != ACTUAL:
            return
        for listener in list(self.listeners):
            try:
                listener(variable.key, value)
            except Exception:  # one faulty reaction must not undo the change nor skip the others
                log.exception("device model listener failed on %s", variable.key)

    def flat(self) -> dict[str, str]:
        """The `ocpp_config` view: every readable Actual value by flat key."""
        return {v.key: self.value(v.key) for v in self._variables.values()
                if ACTUAL in v.attributes and v.attributes[ACTUAL].readable}

    # -- the CSMS's side --------------------------------------------------------------------

    def find(self, component: ComponentRef, name: str, instance: str | None) -> Variable | Status:
        """The variable, or UnknownComponent / UnknownVariable."""
        found = self._components.get(component)
        if found is None:
            return Status.UNKNOWN_COMPONENT
        for variable in found.variables:
            if variable.name == name and variable.instance == instance:
                return variable
        return Status.UNKNOWN_VARIABLE

    def get(self, component: ComponentRef, name: str, instance: str | None = None,
            attribute: str = ACTUAL, max_length: int | None = None) -> Result:
        """One GetVariables item; values longer than `max_length` (ReportingValueSize) are cut."""
        variable = self.find(component, name, instance)
        if isinstance(variable, Status):
            return Result(variable)
        if attribute not in variable.attributes:
            return Result(Status.NOT_SUPPORTED_ATTRIBUTE_TYPE)
        if not variable.attributes[attribute].readable:
            return Result(Status.REJECTED, reason="WriteOnly", detail=f"{variable.key} cannot be read")
        return Result(Status.ACCEPTED, self.value(variable.key, attribute)[:max_length])

    def set_many(self, changes: Sequence[Change], max_length: int | None = None, *,
                 announce: bool = True) -> list[Result]:
        """SetVariables: every item checked and applied on its own, persisted once; listeners
        hear about the accepted ones (not about RebootRequired ones: they apply at the next
        boot), now or, with `announce=False`, when the caller calls `announce`."""
        results, applied = [], []
        for change in changes:
            result, variable = self._set(change, max_length)
            results.append(result)
            if variable is not None:
                applied.append((variable, change.attribute, result))
        if applied:
            self.save()
            for variable, attribute, result in applied:
                if announce and result.status is Status.ACCEPTED:
                    self._notify(variable, attribute, variable.attributes[attribute].value or "")
        return results

    def announce(self, key: str) -> None:
        """Tell the listeners the current Actual value of `key` (after a deferred `set_many`)."""
        self._notify(self._variables[key], ACTUAL, self.value(key))

    def _set(self, change: Change, max_length: int | None) -> tuple[Result, Variable | None]:
        variable = self.find(change.component, change.variable, change.instance)
        if isinstance(variable, Status):
            return Result(variable), None
        attribute = variable.attributes.get(change.attribute)
        if attribute is None:
            return Result(Status.NOT_SUPPORTED_ATTRIBUTE_TYPE), None
        if not attribute.writable or attribute.constant:
            return Result(Status.REJECTED, reason="ReadOnly", detail=f"{variable.key} is read-only"), None
        if max_length is not None and len(change.value) > max_length:
            return Result(Status.REJECTED, reason="ValueTooLong",
                          detail=f"longer than ConfigurationValueSize ({max_length})"), None
        try:
            value = variable.characteristics.normalized(change.value)
        except InvalidValue as exc:
            return Result(Status.REJECTED, reason=exc.reason, detail=str(exc)), None
        attribute.value = value
        return Result(Status.REBOOT_REQUIRED if variable.reboot_required else Status.ACCEPTED), variable

    # -- reports ----------------------------------------------------------------------------

    def base_report(self, report_base: str) -> list[Variable] | None:
        """GetBaseReport's selection; None for a report base we do not know."""
        variables = list(self._variables.values())
        if report_base == "FullInventory":
            return variables
        if report_base == "ConfigurationInventory":
            return [v for v in variables if any(a.writable for a in v.attributes.values())]
        if report_base == "SummaryInventory":
            return [v for v in variables if v.name in STATE_VARIABLES]
        return None

    def custom_report(self, selectors: Sequence[tuple[ComponentRef, str | None, str | None]],
                      criteria: Sequence[str]) -> list[Variable]:
        """GetReport: variables matching any selector (component name and instance; EVSE and
        connector when given; variable name and instance when given) of components matching any
        criterion (Active, Available, Enabled, Problem: that variable of the component is true).
        No selector means every component; no criterion means no filter."""
        picked = []
        for component in self._components.values():
            if criteria and not any(self._meets(component, c) for c in criteria):
                continue
            for variable in component.variables:
                if not selectors or any(_selects(s, variable) for s in selectors):
                    picked.append(variable)
        return picked

    def _meets(self, component: _Component, criterion: str) -> bool:
        name = CRITERIA.get(criterion)
        for variable in component.variables:
            if variable.name == name and variable.instance is None and ACTUAL in variable.attributes:
                with contextlib.suppress(KeyError):
                    return self.value(variable.key) == "true"
        return False

    def report_data(self, variable: Variable, max_length: int | None = None) -> dict[str, Any]:
        """One ReportDataType (camelCase); a WriteOnly attribute's value is never reported."""
        attributes = []
        for a in variable.attributes.values():
            item: dict[str, Any] = {"type": a.type}
            if a.readable:
                item["value"] = self.value(variable.key, a.type)[:max_length]
            item |= {"mutability": a.mutability, "persistent": a.persistent, "constant": a.constant}
            attributes.append(item)
        return {"component": variable.component.wire(), "variable": variable.wire(),
                "variableAttribute": attributes, "variableCharacteristics": variable.characteristics.wire()}


def pages(items: Sequence[dict[str, Any]], max_items: int, max_bytes: int) -> list[list[dict[str, Any]]]:
    """`items` cut into NotifyReport pages of at most `max_items` and about `max_bytes` of JSON
    (a page always holds at least one item)."""
    out: list[list[dict[str, Any]]] = []
    page: list[dict[str, Any]] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item, separators=(",", ":"))) + 1
        if page and (len(page) >= max_items or size + item_size > max_bytes):
            out.append(page)
            page, size = [], 0
        page.append(item)
        size += item_size
    if page:
        out.append(page)
    return out


def _selects(selector: tuple[ComponentRef, str | None, str | None], variable: Variable) -> bool:
    component, name, instance = selector
    ref = variable.component
    if (component.name, component.instance) != (ref.name, ref.instance):
        return False
    if component.evse is not None and component.evse != ref.evse:
        return False
    if component.connector is not None and component.connector != ref.connector:
        return False
    # A variable named without instance selects all its instances.
    return name is None or (name == variable.name and instance in (None, variable.instance))


def _text(value: object) -> str:
    """OCPP attribute values are strings: booleans as true/false, numbers without a trailing .0."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def apply_definition(model: DeviceModel, definition: Any) -> None:
    """Values the charge point definition decides (identity, phases, plug type, EVSE power),
    written at every start so an edited definition shows in the device model."""
    dc = definition.type == "DC"
    phases = 0 if dc else definition.nb_phases
    # AC setpoints are amperes per phase, DC ones watts.
    evse_power = (definition.max_setpoint_per_connector if dc
                  else definition.max_setpoint_per_connector * definition.voltage * definition.nb_phases)
    values: dict[str, object] = {"ChargingStation/VendorName": definition.vendor,
                                 "ChargingStation/Model": definition.model,
                                 "ChargingStation/SupplyPhases": phases,
                                 "SecurityCtrlr/Identity": definition.id}
    updates: dict[tuple[str, str], object] = {}
    for n in range(1, definition.nb_connectors + 1):
        values |= {f"EVSE@{n}/SupplyPhases": phases, f"Connector@{n}.1/SupplyPhases": phases,
                   f"Connector@{n}.1/ConnectorType": "cCCS2" if dc else "cType2"}
        key = f"EVSE@{n}/Power"
        if key in model:
            variable = model.variable(key)
            variable.characteristics = replace(variable.characteristics, max_limit=evse_power)
            if "MaxSet" in variable.attributes:
                updates[(key, "MaxSet")] = evse_power
    updates |= {(key, ACTUAL): value for key, value in values.items() if key in model}
    model.update_many(updates)
