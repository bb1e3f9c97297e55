"""An example provider backed by SQLite: it keeps the instances of its classes in a database file.

Prepare checks the put against what the database holds (CREATE_ONLY, UPDATE_ONLY, partial
updates) and stages the row; commit moves it into place in one SQLite transaction and records
the task, so a repeated commit does nothing; abort drops the staged row.

    wmiput worker --provider workers.examples.inventory:InventoryProvider \\
                  --option name=Inventory --option data_dir=./data/providers

Options: name (the registered provider name), data_dir, and, for demonstrations and tests,
refuse_when=Property:Value (refuse puts whose property has that value),
hold_when=Property:Value (hold such a prepare until the file <data_dir>/<name>.release exists, so
a test can act while a provider is busy) and
no_partial=1 (refuse partial updates with WBEM_E_PROVIDER_NOT_CAPABLE).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from host.errors import WbemError
from workers.provider import Provider, Task

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (relpath TEXT PRIMARY KEY, class TEXT NOT NULL, props TEXT NOT NULL,
                                  tx TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS staged (tx TEXT NOT NULL, level INTEGER NOT NULL, relpath TEXT NOT NULL,
                                   class TEXT NOT NULL, props TEXT NOT NULL, PRIMARY KEY (tx, level));
CREATE TABLE IF NOT EXISTS applied (task TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS calls (seq INTEGER PRIMARY KEY AUTOINCREMENT, tx TEXT, level INTEGER, phase TEXT,
                                  class TEXT, relpath TEXT, at_ns INTEGER);
"""


class InventoryProvider(Provider):
    def __init__(self, name: str = "Inventory", data_dir: str = "data/providers", refuse_when: str = "",
                 no_partial: str = "", hold_when: str = "", **_: str) -> None:
        self.name = name
        self.db = Path(data_dir) / f"{name}.sqlite"
        self.refuse_when = tuple(refuse_when.split(":", 1)) if refuse_when else None
        self.no_partial = bool(no_partial)
        self.hold_when = tuple(hold_when.split(":", 1)) if hold_when else None
        self.release = Path(data_dir) / f"{name}.release"

    async def start(self) -> None:
        self.db.parent.mkdir(parents=True, exist_ok=True)

        def init(c: sqlite3.Connection) -> None:
            # WAL is a property of the file, set once. Several workers of one provider may start
            # together, and switching the journal mode does not wait on a lock: retry it.
            for _ in range(200):
                try:
                    c.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e):
                        raise
                    time.sleep(0.05)
            c.executescript(SCHEMA)

        await self._sql(init)

    async def _sql(self, fn: Any) -> Any:
        def run() -> Any:
            c = sqlite3.connect(self.db, timeout=30, isolation_level=None)
            try:
                return fn(c)
            finally:
                c.close()
        return await asyncio.to_thread(run)

    async def _log(self, task: Task, phase: str) -> None:
        await self._sql(lambda c: c.execute(
            "INSERT INTO calls (tx, level, phase, class, relpath, at_ns) VALUES (?, ?, ?, ?, ?, ?)",
            (task.transaction_id, task.level, phase, task.class_name, task.relpath, time.monotonic_ns())))

    async def prepare(self, task: Task) -> None:
        await self._log(task, "prepare")
        if self.hold_when and str(task.properties.get(self.hold_when[0])) == self.hold_when[1]:
            give_up = time.monotonic() + 60
            while not self.release.exists() and time.monotonic() < give_up:
                await asyncio.sleep(0.02)
        if self.refuse_when and str(task.properties.get(self.refuse_when[0])) == self.refuse_when[1]:
            raise WbemError("WBEM_E_INVALID_PARAMETER", f"{self.name} refuses {self.refuse_when[0]} = "
                            f"{self.refuse_when[1]}", parameter_info=self.refuse_when[0])
        partial = task.partial_properties
        if partial is not None and self.no_partial:
            raise WbemError("WBEM_E_PROVIDER_NOT_CAPABLE", f"{self.name} does not support partial updates",
                            parameter_info="__PUT_EXT_PROPERTIES")
        key = task.relpath.lower()
        props = {k: v for k, v in task.properties.items() if not k.startswith("__")}

        def stage(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            row = c.execute("SELECT props FROM items WHERE relpath = ?", (key,)).fetchone()
            if row is not None and task.create_only:
                c.execute("ROLLBACK")
                raise WbemError("WBEM_E_ALREADY_EXISTS", f"{task.relpath} already exists in {self.name}")
            if row is None and task.update_only:
                c.execute("ROLLBACK")
                raise WbemError("WBEM_E_NOT_FOUND", f"{task.relpath} does not exist in {self.name}")
            new = props
            if partial is not None and row is not None:  # only the listed properties change
                new = json.loads(row[0])
                wanted = {p.lower() for p in partial}
                new.update({k: v for k, v in props.items() if k.lower() in wanted})
            c.execute("INSERT OR REPLACE INTO staged VALUES (?, ?, ?, ?, ?)",
                      (task.transaction_id, task.level, key, task.instance.class_name, json.dumps(new, default=str)))
            c.execute("COMMIT")

        await self._sql(stage)

    async def commit(self, task: Task) -> None:
        await self._log(task, "commit")

        def apply(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            if c.execute("SELECT 1 FROM applied WHERE task = ?", (task.task_id,)).fetchone():
                c.execute("ROLLBACK")
                return
            row = c.execute("SELECT relpath, class, props FROM staged WHERE tx = ? AND level = ?",
                            (task.transaction_id, task.level)).fetchone()
            if row is not None:
                c.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?)", (*row, task.transaction_id))
                c.execute("DELETE FROM staged WHERE tx = ? AND level = ?", (task.transaction_id, task.level))
            c.execute("INSERT INTO applied VALUES (?)", (task.task_id,))
            c.execute("COMMIT")

        await self._sql(apply)

    async def abort(self, task: Task) -> None:
        await self._log(task, "abort")
        await self._sql(lambda c: c.execute("DELETE FROM staged WHERE tx = ? AND level = ?",
                                            (task.transaction_id, task.level)))


def read_items(db: Path) -> dict[str, dict[str, Any]]:
    """The committed instances of a database: relpath (lower-case) -> properties. For tests and tools."""
    if not db.exists():
        return {}
    c = sqlite3.connect(db)
    try:
        return {r[0]: json.loads(r[1]) for r in c.execute("SELECT relpath, props FROM items")}
    except sqlite3.OperationalError:
        return {}
    finally:
        c.close()


def read_calls(db: Path) -> list[tuple[str, int, str, str, int]]:
    """(tx, level, phase, class, monotonic ns) of every call, in order."""
    if not db.exists():
        return []
    c = sqlite3.connect(db)
    try:
        return list(c.execute("SELECT tx, level, phase, class, at_ns FROM calls ORDER BY seq"))
    except sqlite3.OperationalError:
        return []
    finally:
        c.close()
