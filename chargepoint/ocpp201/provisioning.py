"""OCPP 2.0.1 provisioning (B05-B08): GetVariables, SetVariables, GetBaseReport, GetReport.

`ProvisioningHandlers` is a mixin for the station's `ocpp.v201.ChargePoint` subclass. What it
needs of that class:
- `self.device_model`: the station's `DeviceModel`;
- `self.call(payload)`: the library's ChargePoint call (NotifyReport pages).
The handlers only translate: every decision is the device model's. A report is answered first
and its NotifyReport pages (DeviceDataCtrlr ItemsPerMessage / BytesPerMessage per page, seqNo
from 0, tbc on all but the last) are sent after the answer, from the values at that moment.
Accepted SetVariables changes are announced to the device model's listeners after the answer
too, so whatever they trigger reaches the CSMS after the SetVariablesResponse.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OccurenceConstraintViolationError
from ocpp.routing import after, on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action, GenericDeviceModelStatusEnumType

from chargepoint.core.message_log import utc_iso
from chargepoint.ocpp201.device_model import ACTUAL, Change, ComponentRef, Result, Status, Variable, pages

if TYPE_CHECKING:
    from chargepoint.ocpp201.device_model import DeviceModel

log = logging.getLogger(__name__)

ITEMS = "DeviceDataCtrlr/ItemsPerMessage:"
BYTES = "DeviceDataCtrlr/BytesPerMessage:"
REPORTING_VALUE_SIZE = "DeviceDataCtrlr/ReportingValueSize"
CONFIGURATION_VALUE_SIZE = "DeviceDataCtrlr/ConfigurationValueSize"
ENVELOPE_BYTES = 300  # a NotifyReport without its reportData, with room for the frame


def component_ref(component: dict[str, Any]) -> ComponentRef:
    """A ComponentType as the library hands it over (snake_case)."""
    evse = component.get("evse") or {}
    return ComponentRef(component["name"], component.get("instance"), evse.get("id"), evse.get("connector_id"))


def _status_info(result: Result) -> dict[str, Any] | None:
    if result.reason is None:
        return None
    return {"reasonCode": result.reason} | ({"additionalInfo": result.detail[:512]} if result.detail else {})


class ProvisioningHandlers:
    """Device model handlers of a 2.0.1 charging station (mixin, see the module docstring)."""

    device_model: DeviceModel

    if TYPE_CHECKING:
        async def call(self, payload: Any, suppress: bool = True, unique_id: Any = None,
                       skip_schema_validation: bool = False) -> Any: ...

    # -- GetVariables / SetVariables --------------------------------------------------------

    def _limit(self, key: str, default: int | None = None) -> int | None:
        value = self.device_model.actual(key)
        return int(value) if value else default

    def _check_items(self, message: str, count: int) -> None:
        most = self._limit(ITEMS + message)
        if most is not None and count > most:
            raise OccurenceConstraintViolationError(
                description=f"{count} items in {message}, ItemsPerMessage{message} is {most}")

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> call_result.GetVariables:
        self._check_items("GetVariables", len(get_variable_data))
        size = self._limit(REPORTING_VALUE_SIZE)
        results = []
        for item in get_variable_data:
            ref, variable = component_ref(item["component"]), item["variable"]
            attribute = item.get("attribute_type") or ACTUAL
            result = self.device_model.get(ref, variable["name"], variable.get("instance"), attribute, size)
            answer: dict[str, Any] = {"attributeStatus": result.status.value, "attributeType": attribute,
                                      "component": ref.wire(), "variable": _variable(variable)}
            if result.value is not None:
                answer["attributeValue"] = result.value
            if (info := _status_info(result)) is not None:
                answer["attributeStatusInfo"] = info
            results.append(answer)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, call_unique_id: str, set_variable_data: list[dict[str, Any]],
                         **_: Any) -> call_result.SetVariables:
        self._check_items("SetVariables", len(set_variable_data))
        changes = [Change(component_ref(item["component"]), item["variable"]["name"], item["attribute_value"],
                          item["variable"].get("instance"), item.get("attribute_type") or ACTUAL)
                   for item in set_variable_data]
        results = self.device_model.set_many(changes, self._limit(CONFIGURATION_VALUE_SIZE), announce=False)
        self._pending()[call_unique_id] = [
            f"{c.component.key}/{c.variable}" + (f":{c.instance}" if c.instance else "")
            for c, r in zip(changes, results, strict=True) if r.status is Status.ACCEPTED and c.attribute == ACTUAL]
        answers = []
        for change, result, item in zip(changes, results, set_variable_data, strict=True):
            answer: dict[str, Any] = {"attributeStatus": result.status.value, "attributeType": change.attribute,
                                      "component": change.component.wire(), "variable": _variable(item["variable"])}
            if (info := _status_info(result)) is not None:
                answer["attributeStatusInfo"] = info
            answers.append(answer)
        return call_result.SetVariables(set_variable_result=answers)

    @after(Action.set_variables)
    def after_set_variables(self, call_unique_id: str, **_: Any) -> None:
        for key in self._pending().pop(call_unique_id, []):
            self.device_model.announce(key)

    # -- reports ----------------------------------------------------------------------------

    @on(Action.get_base_report)
    def on_get_base_report(self, call_unique_id: str, request_id: int, report_base: str,
                           **_: Any) -> call_result.GetBaseReport:
        variables = self.device_model.base_report(report_base)
        if variables is None:
            return call_result.GetBaseReport(status=GenericDeviceModelStatusEnumType.not_supported)
        self._pending()[call_unique_id] = variables
        return call_result.GetBaseReport(status=GenericDeviceModelStatusEnumType.accepted)

    @after(Action.get_base_report)
    async def after_get_base_report(self, call_unique_id: str, request_id: int, **_: Any) -> None:
        await self._send_decided_report(call_unique_id, request_id)

    @on(Action.get_report)
    def on_get_report(self, call_unique_id: str, request_id: int,
                      component_variable: list[dict[str, Any]] | None = None,
                      component_criteria: list[str] | None = None, **_: Any) -> call_result.GetReport:
        selectors = component_variable or []
        self._check_items("GetReport", len(selectors))
        variables = self.device_model.custom_report(
            [(component_ref(s["component"]), (s.get("variable") or {}).get("name"),
              (s.get("variable") or {}).get("instance")) for s in selectors],
            component_criteria or [])
        if not variables:
            return call_result.GetReport(status=GenericDeviceModelStatusEnumType.empty_result_set)
        self._pending()[call_unique_id] = variables
        return call_result.GetReport(status=GenericDeviceModelStatusEnumType.accepted)

    @after(Action.get_report)
    async def after_get_report(self, call_unique_id: str, request_id: int, **_: Any) -> None:
        await self._send_decided_report(call_unique_id, request_id)

    async def _send_decided_report(self, call_unique_id: str, request_id: int) -> None:
        variables = self._pending().pop(call_unique_id, None)
        if variables:
            await self.send_report(request_id, variables)

    async def send_report(self, request_id: int, variables: Sequence[Variable]) -> None:
        """NotifyReport pages of `variables`; stops (logged) at the first page not delivered."""
        dm = self.device_model
        data = [dm.report_data(v, self._limit(REPORTING_VALUE_SIZE)) for v in variables]
        split = pages(data, self._limit(ITEMS + "GetReport", 100) or 100,
                      max((self._limit(BYTES + "GetReport", 65536) or 65536) - ENVELOPE_BYTES, 1))
        generated_at = utc_iso()
        for seq_no, page in enumerate(split):
            try:
                await self.call(call.NotifyReport(request_id=request_id, generated_at=generated_at, seq_no=seq_no,
                                                  report_data=page, tbc=seq_no < len(split) - 1))
            except Exception as exc:  # disconnected, no answer in time, a CallError
                log.warning("report %d: NotifyReport page %d of %d not delivered (%s)", request_id, seq_no,
                            len(split), repr(exc))
                return
        log.info("report %d: %d variables in %d NotifyReport page(s)", request_id, len(data), len(split))

    def _pending(self) -> dict[str, Any]:
        """What an `@on` decided, by call id, for its `@after` (kept on the instance)."""
        return self.__dict__.setdefault("_provisioning_pending", {})


def _variable(variable: dict[str, Any]) -> dict[str, Any]:
    return {"name": variable["name"]} | ({"instance": variable["instance"]} if variable.get("instance") else {})
