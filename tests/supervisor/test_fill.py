"""1,000 retained CP statuses: the list fills within seconds and the GUI stays responsive."""

from __future__ import annotations

from bench.supervisor_fill import measure, publish_fleet

CPS = 1000


def test_thousand_retained_cps_fill_fast_and_keep_the_event_loop_responsive(qtbot, broker) -> None:
    publish_fleet(broker.url, CPS, connectors=2)
    result = measure(broker.url, CPS, connectors=2)
    print(result.report())
    assert result.fill_s < 5.0
    # a 10 ms timer on the GUI thread is never held up long enough for a user to notice
    assert result.fill_latency.max_ms < 250, result.report()
    assert result.live_latency.max_ms < 250, result.report()
    assert result.filter_ms < 500
