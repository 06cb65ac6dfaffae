"""The seeded automatic run of `bench/auto_run.py`, short: 10 charge points, twice with the
same seed, against the demo CSMS through a real launcher."""

from __future__ import annotations

import json
import re

from bench import auto_run

BUSY = {"rate": 600, "dwell": [3, 6], "tag_delay": [0.3, 1.0], "invalid_share": 0.1}


def test_a_short_seeded_run_twice_applies_the_same_inputs(capsys) -> None:
    code = auto_run.main(["--cps", "10", "--duration", "15", "--seed", "7", "--settings", json.dumps(BUSY)])
    out = capsys.readouterr().out
    assert code == 0, out
    figures = re.findall(r"(\d+) sessions started and (\d+) ended at the CSMS.*ratio ([\d.]+)", out)
    assert len(figures) == 2, out
    for started, ended, ratio in figures:
        assert int(ended) >= 5 and int(started) >= int(ended)
        assert 0.8 < float(ratio) < 1.2, out  # energy at the CSMS against the cars' draw
    same = re.search(r"same seed, same inputs: yes \((\d+) inputs compared\)", out)
    assert same and int(same.group(1)) >= 12, out
