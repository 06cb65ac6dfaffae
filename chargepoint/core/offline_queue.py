"""Transaction-related messages, kept on disk until the CSMS has answered them.

Every StartTransaction, StopTransaction and transaction MeterValues goes through this
queue, online or not, so they always reach the CSMS in the order they happened. The file
is an append-only journal of JSON lines (`add`, `done`, `map`), synced on every write
(`cp_simu.durability`), so a SIGKILL loses nothing that was accepted. A message about a transaction whose
CSMS id is not known yet (its start is still queued) carries the transaction's local
`ref`; the id is filled in from the `map` records when the message is sent.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cp_simu import durability
from cp_simu.config import atomic_write

log = logging.getLogger(__name__)
COMPACT_AFTER = 200  # journal lines beyond the live entries before the file is rewritten
KEEP_IDS = 50  # id mappings kept after their messages left (a state.json older than the queue)


@dataclass
class QueuedMessage:
    seq: int
    action: str
    payload: dict[str, Any]
    ref: int | None = None  # local transaction ref whose CSMS id the payload needs
    attempts: int = field(default=0, compare=False)


class OfflineQueue:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: deque[QueuedMessage] = deque()
        self._ids: dict[int, int | str] = {}
        self._numbers: dict[int, int] = {}  # ref -> next number of its message sequence
        self._seq = 0
        self._lines = 0
        self._load()
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    # -- queue ----------------------------------------------------------------------------
    def append(self, action: str, payload: dict[str, Any], ref: int | None = None, *,
               numbered: str | None = None) -> QueuedMessage:
        """Queue a message; `numbered` names the payload field that gets the next number of
        the transaction's (`ref`'s) message sequence: 0, 1, 2… without gaps, even across a kill."""
        self._seq += 1
        record: dict[str, Any] = {"op": "add", "seq": self._seq, "action": action, "ref": ref}
        if numbered is not None and ref is not None:
            number = self._numbers.get(ref, 0)
            payload = {**payload, numbered: number}
            self._numbers[ref] = record["next"] = number + 1
        entry = QueuedMessage(self._seq, action, payload, ref)
        self._entries.append(entry)
        self._write({**record, "payload": payload})
        return entry

    def peek(self) -> QueuedMessage | None:
        return self._entries[0] if self._entries else None

    def done(self, entry: QueuedMessage) -> None:
        """The CSMS answered (or the message was given up): never send it again."""
        try:
            self._entries.remove(entry)
        except ValueError:
            return
        self._write({"op": "done", "seq": entry.seq})
        if not self._entries or self._lines > len(self._entries) + COMPACT_AFTER:
            self._compact()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def last_seq(self) -> int:
        """The number of the message queued last: `left_through` tells when it is gone."""
        return self._seq

    def left_through(self, seq: int) -> bool:
        """No message numbered `seq` or lower is still queued (each was answered or given up)."""
        return not self._entries or self._entries[0].seq > seq

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._entries))

    # -- transaction ids ------------------------------------------------------------------
    def map_transaction(self, ref: int, transaction_id: int | str) -> None:
        self._ids[ref] = transaction_id
        self._write({"op": "map", "ref": ref, "id": transaction_id})

    def continue_sequence(self, old_ref: int, new_ref: int) -> None:
        """The messages of `new_ref` carry on the numbering of `old_ref`'s (durably)."""
        if old_ref in self._numbers:
            self._numbers[new_ref] = self._numbers.pop(old_ref)
            self._write({"op": "number", "ref": new_ref, "next": self._numbers[new_ref]})

    def transaction_id(self, ref: int) -> int | str | None:
        return self._ids.get(ref)

    @property
    def last_ref(self) -> int:
        """The highest transaction ref the queue knows: new refs must stay above it even if
        state.json was not written before a kill."""
        return max([0, *self._ids, *self._numbers, *(e.ref for e in self._entries if e.ref is not None)])

    def close(self) -> None:
        self._file.close()

    # -- file -----------------------------------------------------------------------------
    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        durability.sync(self._file.fileno())
        self._lines += 1

    def _load(self) -> None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return
        by_seq: dict[int, QueuedMessage] = {}
        for line in text.splitlines():
            try:
                record = json.loads(line)
                op = record["op"]
                if op == "add":
                    by_seq[record["seq"]] = QueuedMessage(record["seq"], record["action"],
                                                          record["payload"], record.get("ref"))
                    self._seq = max(self._seq, record["seq"])
                    if record.get("next") is not None:
                        self._numbers[record["ref"]] = max(self._numbers.get(record["ref"], 0), record["next"])
                elif op == "done":
                    by_seq.pop(record["seq"], None)
                elif op == "map":
                    self._ids[record["ref"]] = record["id"]
                elif op == "number":
                    self._numbers[record["ref"]] = record["next"]
            except (ValueError, KeyError, TypeError):
                log.warning("%s: skipping a damaged line (%.80s)", self.path, line)  # e.g. torn last line
        self._entries = deque(sorted(by_seq.values(), key=lambda e: e.seq))
        self._lines = len(text.splitlines())
        if self._entries:
            log.info("%d queued transaction message(s) to deliver", len(self._entries))

    def _compact(self) -> None:
        """Rewrite the journal with only what is still needed."""
        refs = {e.ref for e in self._entries if e.ref is not None}
        recent = sorted(self._ids)[-KEEP_IDS:]
        self._ids = {ref: tx_id for ref, tx_id in self._ids.items() if ref in refs or ref in recent}
        recent = sorted(self._numbers)[-KEEP_IDS:]
        self._numbers = {ref: n for ref, n in self._numbers.items() if ref in refs or ref in recent}
        records = [{"op": "map", "ref": ref, "id": tx_id} for ref, tx_id in self._ids.items()]
        records += [{"op": "number", "ref": ref, "next": n} for ref, n in self._numbers.items()]
        records += [{"op": "add", "seq": e.seq, "action": e.action, "payload": e.payload, "ref": e.ref}
                    for e in self._entries]
        self._file.close()
        atomic_write(self.path, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._lines = len(records)
