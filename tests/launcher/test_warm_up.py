"""The fork server's warm-up is optional: a failing one is reported and skipped."""

from __future__ import annotations

import pytest

from launcher import spawner


def test_a_failing_warm_up_is_reported_and_ignored(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(spawner, "WARM_UP", ("launcher.no_such_module", "steps"))
    assert not spawner._warm_up_step(spawner._warm_up())
    assert "warm-up failed, skipped" in capsys.readouterr().err


def test_a_warm_up_failing_midway_is_reported_and_stops(capsys: pytest.CaptureFixture[str]) -> None:
    def steps():
        yield
        raise RuntimeError("broken session")

    warming = steps()
    assert spawner._warm_up_step(warming)
    assert not spawner._warm_up_step(warming)
    assert "warm-up failed, skipped: RuntimeError('broken session')" in capsys.readouterr().err


def test_the_warm_up_is_the_charge_points_preload() -> None:
    from chargepoint import preload

    module, function = spawner.WARM_UP
    assert (module, function) == (preload.__name__, preload.steps.__name__)
