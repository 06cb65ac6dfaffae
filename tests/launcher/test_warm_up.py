"""The fork server's warm-up is optional: a failing one is reported and skipped."""

from __future__ import annotations

import pytest

from launcher import spawner


def test_a_failing_warm_up_is_reported_and_ignored(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(spawner, "WARM_UP", ("launcher.no_such_module", "preload"))
    spawner._warm_up()
    assert "warm-up failed, skipped" in capsys.readouterr().err


def test_the_warm_up_is_the_charge_points_preload() -> None:
    from chargepoint import preload

    module, function = spawner.WARM_UP
    assert (module, function) == (preload.__name__, preload.preload.__name__)
