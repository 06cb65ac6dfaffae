"""Where a process's memory goes: `/proc/<pid>/smaps` summed per kind of mapping.

A forked charge point shares most pages with its fork server and siblings; what it costs is
its PSS, and what it owns alone (private pages) is either a page of the shared heap it wrote
to (copy-on-write) or memory it allocated itself. The kinds: `heap` (malloc's brk heap),
`arena` (anonymous mappings of at most a few MB: Python's object arenas and malloc's mmaps),
`thread stack` (anonymous 8 MB mappings next to a guard page), `malloc arena` (a thread's
malloc arena, 64 MB reserved), `stack` (the main thread's), and the mapped files (shared
libraries' data and relocations, Python's own binary).
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass, field
from pathlib import Path

KB = 1024
_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")


@dataclass
class Mapping:
    start: int
    end: int
    perms: str
    name: str
    fields: dict[str, int] = field(default_factory=dict)  # kB

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def private_kb(self) -> int:
        return self.fields.get("Private_Dirty", 0) + self.fields.get("Private_Clean", 0)


def read(pid: int) -> list[Mapping]:
    mappings: list[Mapping] = []
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        header = _HEADER.match(line)
        if header:
            start, end, perms, name = header.groups()
            mappings.append(Mapping(int(start, 16), int(end, 16), perms, name.strip()))
        elif mappings and line.endswith(" kB"):
            key, value = line.split(":", 1)
            mappings[-1].fields[key] = int(value.split()[0])
    return mappings


def kind(mapping: Mapping, previous: Mapping | None) -> str:
    name = mapping.name
    if name in ("[heap]", "[stack]"):
        return name.strip("[]")
    if name.startswith("["):
        return "kernel (vdso, vvar)"
    if name:
        base = Path(name).name
        if "python3" in base or base.startswith("libpython"):
            return "python binary"
        return "file: " + (re.sub(r"[.-]cpython.*|\.so.*", "", base) if base.endswith(".so") or ".so." in base
                           else base)
    size_mb = mapping.size / KB / KB
    guard = previous is not None and previous.end == mapping.start and previous.perms.startswith("---")
    if guard and 7.5 <= size_mb <= 8.5:
        return "thread stack"
    if mapping.perms.startswith("---"):
        return "reserved (no access)"
    if 60 <= size_mb <= 132 or (guard and size_mb < 64):
        return "malloc arena (thread)"
    return "arena (anonymous)"


def by_kind(pid: int, metric: str = "private") -> dict[str, int]:
    """kB per kind of mapping; `metric`: "private" (USS parts) or an smaps field (e.g. "Pss")."""
    totals: collections.Counter[str] = collections.Counter()
    previous = None
    for mapping in read(pid):
        value = mapping.private_kb if metric == "private" else mapping.fields.get(metric, 0)
        totals[kind(mapping, previous)] += value
        previous = mapping
    return dict(totals)


def average(pids: list[int], metric: str = "private") -> dict[str, float]:
    """The mean kB per kind over `pids` (processes gone meanwhile are skipped)."""
    sums: collections.Counter[str] = collections.Counter()
    count = 0
    for pid in pids:
        try:
            totals = by_kind(pid, metric)
        except OSError:
            continue
        sums.update(totals)
        count += 1
    return {k: v / max(count, 1) for k, v in sums.most_common()}


def describe(kinds: dict[str, float], limit: int = 12) -> str:
    rows = sorted(kinds.items(), key=lambda kv: -kv[1])
    shown = rows[:limit]
    rest = sum(v for _, v in rows[limit:])
    lines = [f"  {k:<28} {v / KB:7.2f} MB" for k, v in shown if v]
    if rest:
        lines.append(f"  {'(others)':<28} {rest / KB:7.2f} MB")
    lines.append(f"  {'total':<28} {sum(kinds.values()) / KB:7.2f} MB")
    return "\n".join(lines)
