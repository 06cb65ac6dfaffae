"""What a page fault costs on this machine: the time of the first write to each page of fresh
anonymous memory (the kernel allocates, zeroes and maps a 4 kB page), the same work as a
forked charge point's copy-on-write of one of the fork server's pages. A forked charge
point takes some 2,300 of them on its way to Accepted, so this figure, which varies several
times between machines (virtual ones especially), sets a large part of its start-up cost.

    python -m bench.page_cost [PAGES]
"""

from __future__ import annotations

import argparse
import mmap
import resource
import time

PAGE = mmap.PAGESIZE


def _loop_us(pages: int) -> float:
    """The interpreter's own time per iteration of the loop below, on one page already mapped."""
    memory = mmap.mmap(-1, PAGE)
    memory[0] = 0
    t0 = time.perf_counter()
    for _ in range(pages):
        memory[0] = 1
    elapsed = time.perf_counter() - t0
    memory.close()
    return elapsed / pages * 1e6


def fault_us(pages: int = 50_000) -> float:
    """Microseconds per minor page fault: the first write to each of `pages` fresh pages."""
    loop = _loop_us(pages)
    memory = mmap.mmap(-1, pages * PAGE)
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    for offset in range(0, pages * PAGE, PAGE):
        memory[offset] = 1
    elapsed = time.perf_counter() - t0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    memory.close()
    return (elapsed / pages * 1e6 - loop) * pages / max(faults, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="?", type=int, default=50_000)
    args = parser.parse_args()
    print(f"first write to a fresh page: {fault_us(args.pages):.2f} µs "
          f"({args.pages:,} pages of {PAGE // 1024} kB)")


if __name__ == "__main__":
    main()
