"""Charge points started without serials boot as distinct stations: a CSMS keyed on the
charge point or meter serial must not merge them."""

from __future__ import annotations

from tests.launcher.conftest import BOOT_WAIT, definition
from tests.procs import wait_until


def test_fleet_without_serials_boots_with_distinct_serials(launcher_factory, csms):
    run = launcher_factory()
    ids = ["CP_0001", "CP_0002", "CP_0003"]
    run.start(*(definition(i, csms.url) for i in ids))
    statuses = {i: run.wait_status(i, "Accepted", BOOT_WAIT) for i in ids}

    def boots() -> dict[str, dict]:
        return {m["cp_id"]: m["payload"] for m in csms.messages("BootNotification", direction="in")
                if m["message_type"] == "call"}
    wait_until(lambda: len(boots()) == 3, 5, what="three BootNotifications")
    sent = boots()
    assert {i: p["chargePointSerialNumber"] for i, p in sent.items()} == {i: f"SN-{i}" for i in ids}
    assert {i: p["meterSerialNumber"] for i, p in sent.items()} == {i: f"MTR-{i}" for i in ids}
    assert {i: s["serial"] for i, s in statuses.items()} == {i: f"SN-{i}" for i in ids}
