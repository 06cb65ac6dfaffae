"""Switching the kernel's same-page merging on for a while (cp_simu.ksm.merging), on a
directory laid out like /sys/kernel/mm/ksm."""

from __future__ import annotations

import pytest

from cp_simu import ksm


@pytest.mark.parametrize("host", ["0", "2"])  # off, or off after unmerging everything
def test_merging_switches_ksm_on_then_off_without_unmerging(tmp_path, host):
    (tmp_path / "run").write_text(f"{host}\n")
    with ksm.merging(tmp_path) as switched_on:
        assert switched_on
        assert (tmp_path / "run").read_text() == "1"
    assert (tmp_path / "run").read_text() == "0"  # never 2: that would unmerge the running fleet


def test_merging_leaves_a_running_ksm_running(tmp_path):
    (tmp_path / "run").write_text("1\n")
    with ksm.merging(tmp_path) as switched_on:
        assert not switched_on
    assert (tmp_path / "run").read_text() == "1\n"


def test_merging_restores_the_setting_when_the_block_fails(tmp_path):
    (tmp_path / "run").write_text("0\n")
    with pytest.raises(RuntimeError), ksm.merging(tmp_path):
        raise RuntimeError("the launcher failed")
    assert (tmp_path / "run").read_text() == "0"


def test_a_kernel_without_ksm_is_a_clear_error(tmp_path):
    with pytest.raises(ksm.KsmError, match=r"cannot switch on kernel same-page merging .*no_ksm/run.*root"), \
            ksm.merging(tmp_path / "no_ksm"):
        pass
