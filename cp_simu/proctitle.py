"""Process titles: `ps` shows what each ocpp-simu process is (`ocpp-simu cp CP_0001`,
`ocpp-simu fork-server …`) instead of `python -m launcher.spawner` for every one of them.

The title replaces the command line (`ps -f`, `/proc/<pid>/cmdline`) and the short name
(`ps -e`, `top`: its first 15 characters). Without the `setproctitle` library the
process keeps its command line.
"""

from __future__ import annotations


def set_title(title: str) -> None:
    try:
        import setproctitle
    except ImportError:  # pragma: no cover - a declared dependency; only costs the nicer `ps`
        return
    setproctitle.setproctitle(title)


def cp_title(cp_id: str) -> str:
    return f"ocpp-simu cp {cp_id}"


def packed_title(cp_ids: list[str]) -> str:
    """A packed process: `ocpp-simu cps CP_0001…CP_0500 (500)`."""
    if len(cp_ids) == 1:
        return f"ocpp-simu cps {cp_ids[0]} (1)"
    return f"ocpp-simu cps {cp_ids[0]}…{cp_ids[-1]} ({len(cp_ids)})"
