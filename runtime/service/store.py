"""The live engine's durable state: one SQLite file in WAL mode, tables per entity.

Why tables per entity and not an event log replayed through the engine: live exits are not
reproducible (a replay would not give the same instants), and the REST layer needs to filter and
page over rows with SQL. The engine stays the only writer; it writes through, once per loop turn.

Shape of use (the engine thread)::

    store = Store.open(data / "poolscale.db", durability="normal")
    store.put("tasks", {"job_id": "j", "id": "t1", "spec": "{}", "state": "active"})
    store.touch("pools", ("p",), lambda: pool_row(pool))   # row built at commit time
    store.commit()              # one BEGIN IMMEDIATE ... COMMIT for everything staged this turn

and any other thread::

    rows = store.rows("tasks", "job_id = ?", ("j",))   # its own read connection

Dirty tracking, the simplest correct form: the store keeps a map ``(table, primary key) ->
pending write`` for the turn. ``put`` stages a row (a dict; a second ``put`` of the same key in the
same turn merges column by column, last value wins), ``touch`` stages a callable that builds the
row when the turn commits (so an object changed ten times in a turn is serialised once), and
``delete`` stages a removal. ``commit`` writes the map with ``executemany`` upserts in one
transaction and empties it. The store does not know engine objects: the engine's hooks decide what
is dirty; the store only guarantees that what was staged lands atomically or not at all.

``put`` is an upsert of the columns given (a new row must give every NOT NULL column);
``update`` changes some columns of a row that exists (an attempt's ``pid`` after ``Popen``)
without rewriting the rest, and does nothing if the row is gone. Foreign keys are declared
``DEFERRABLE INITIALLY DEFERRED`` (checked at COMMIT), so the rows of a turn may be staged in
any order.

``durability`` maps to ``PRAGMA synchronous``:

* ``"normal"`` (default) - ``NORMAL``: in WAL mode a committed transaction survives ``kill -9``
  of poolscale (the WAL is in the OS page cache); the last commits may be lost on power loss.
* ``"full"`` - ``FULL``: fsync at every commit; survives power loss, costs a disk flush per turn.
* ``"off"`` - ``OFF``: no fsync at all (still WAL, still atomic, still survives ``kill -9`` of
  the process, not an OS crash). For benchmarks and throwaway runs; an engine that wants no
  store at all runs with ``store=None`` instead.

The schema is a list of numbered SQL files in ``schema/`` (``001.sql``, ...), applied in order
inside one transaction each, and recorded in the ``schema_version`` table. A file written by a
newer poolscale (a version above the last file shipped here) is refused rather than misread.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.resources
import re
import sqlite3
import struct
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DURABILITY",
    "SCHEMA_VERSION",
    "Store",
    "StoreError",
    "migrations",
    "pack_values",
    "unpack_values",
]

#: ``durability`` setting -> ``PRAGMA synchronous`` value.
DURABILITY = {"off": "OFF", "normal": "NORMAL", "full": "FULL"}

#: How long a connection waits for a lock before failing (readers never wait in WAL; this is
#: for a second process opening the same file, e.g. a migration racing a start).
BUSY_TIMEOUT_MS = 5000

Row = dict[str, Any]
_Key = tuple[str, tuple[Any, ...]]


class StoreError(Exception):
    """The store cannot be opened or used; ``str()`` is one line a CLI prints as is."""


def migrations() -> list[tuple[int, str]]:
    """The shipped migrations as ``(number, sql)``, in order, read from the package data."""
    folder = importlib.resources.files(__package__).joinpath("schema")
    found = []
    for entry in folder.iterdir():
        m = re.fullmatch(r"(\d{3})\.sql", entry.name)
        if m:
            found.append((int(m.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        # A gap would silently skip a step on some installs; fail loudly at development time.
        raise StoreError(f"schema migrations must be numbered 001, 002, ... without gaps: {numbers}")
    return found


SCHEMA_VERSION = len(migrations())


def pack_values(values: Sequence[float]) -> bytes:
    """A sample's series values as the ``samples.sample_values`` blob (float64, little-endian).

    A fixed binary layout rather than JSON so that a value read back is bit-identical (NaN for a
    missing sample included) and the formula sees exactly the history it saw before a restart.
    """
    return struct.pack(f"<{len(values)}d", *values)


def unpack_values(blob: bytes) -> tuple[float, ...]:
    """Inverse of :func:`pack_values`."""
    return struct.unpack(f"<{len(blob) // 8}d", blob)


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (``executescript`` would COMMIT the open transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""
    rest = "\n".join(ln for ln in buf.splitlines() if not ln.strip().startswith("--")).strip()
    if rest:
        raise StoreError(f"migration ends with an incomplete statement: {rest[:60]!r}")


_PUT, _UPDATE, _DELETE, _REPLACE = "put", "update", "delete", "replace"


class Store:
    """One SQLite database: a write connection for the engine thread, read connections for others.

    Open with :meth:`open`. Not thread-safe for writing by design: only the thread that first
    writes (the engine thread) may stage or commit; any thread may read through :meth:`rows`,
    :meth:`query` or its own :meth:`reader`.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, durability: str) -> None:
        self.path = path
        self.durability = durability
        self._conn = conn
        self._dirty: dict[_Key, tuple[str, Any]] = {}
        self._owner: int | None = None
        self._in_tx = False
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._columns: dict[str, list[str]] = {}
        self._pk: dict[str, list[str]] = {}
        self._sql: dict[tuple[str, str, tuple[str, ...]], str] = {}
        for (table,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ):
            info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
            self._columns[table] = [c[1] for c in info]
            pk = sorted((c[5], c[1]) for c in info if c[5])
            self._pk[table] = [name for _, name in pk]

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, durability: str = "normal") -> Store:
        """Open (creating and migrating if needed) the store at ``path``.

        Raises :class:`StoreError` with a one-line reason for a file that is not an SQLite
        database, an SQLite database that is not a poolscale store, a schema newer than this
        poolscale, or a file system where WAL mode is unavailable.
        """
        if durability not in DURABILITY:
            raise ValueError(f"durability must be one of {', '.join(DURABILITY)}, not {durability!r}")
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"{path}: is a directory, not a poolscale store file")
        try:
            # isolation_level=None: the store issues BEGIN/COMMIT itself (group commit).
            # check_same_thread=False: the engine may open the store before starting its thread.
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the store: {exc}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(
                    f"{path}: SQLite cannot use WAL mode here (got {mode!r}); "
                    "put the data directory on a local file system"
                )
            conn.execute(f"PRAGMA synchronous = {DURABILITY[durability]}")
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn, path)
            return cls(path, conn, durability)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(
                f"{path}: not a poolscale store (not an SQLite database, or damaged: {exc}); "
                "move it away or choose another data directory"
            ) from None
        except BaseException:
            conn.close()
            raise

    @property
    def schema_version(self) -> int:
        """The highest migration applied to this file."""
        return int(self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    # -- staging (engine thread) -------------------------------------------------------------

    def _check_owner(self) -> None:
        me = threading.get_ident()
        if self._owner is None:
            self._owner = me
        elif self._owner != me:
            raise StoreError("the store is written by one thread (the engine's); use a reader here")

    def release_writer(self) -> None:
        """Let the next thread that writes become the writer (the engine opened the store on the
        main thread, wrote its first rows, and now hands it to its loop thread)."""
        if self._in_tx:
            raise StoreError("cannot hand the store over inside a transaction")
        self._owner = None

    def _key(self, table: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
        try:
            return tuple(row[c] for c in self._pk[table])
        except KeyError as exc:
            raise StoreError(f"{table}: a staged row needs its primary key column {exc}") from None

    def _table(self, table: str) -> None:
        if table not in self._pk:
            raise StoreError(f"no table {table!r} in the store")

    def put(self, table: str, row: Mapping[str, Any]) -> None:
        """Stage ``row`` (it must hold the primary key); written at the next commit."""
        self._check_owner()
        self._table(table)
        self._stage((table, self._key(table, row)), (_PUT, dict(row)))

    def update(self, table: str, key: Sequence[Any], **columns: Any) -> None:
        """Stage new values for some columns of the existing row ``key``."""
        self._check_owner()
        self._table(table)
        row = dict(zip(self._pk[table], key)) | columns
        self._stage((table, tuple(key)), (_UPDATE, row))

    def touch(self, table: str, key: Sequence[Any], build: Callable[[], Mapping[str, Any]]) -> None:
        """Mark ``key`` dirty; ``build()`` gives its row when the turn commits.

        The engine calls this from its hooks on every change; the row is serialised once per
        turn however many times the object changed.
        """
        self._check_owner()
        self._table(table)
        self._stage((table, tuple(key)), (_PUT, build))

    def delete(self, table: str, key: Sequence[Any]) -> None:
        """Stage the removal of the row with primary key ``key``."""
        self._check_owner()
        self._table(table)
        self._stage((table, tuple(key)), (_DELETE, None))

    def set_meta(self, key: str, value: str) -> None:
        """Stage a ``meta`` entry (account name, engine origin, boot id)."""
        self.put("meta", {"key": key, "value": value})

    def _stage(self, key: _Key, op: tuple[str, Any]) -> None:
        prev = self._dirty.get(key)
        kind, payload = op
        if prev is not None and kind in (_PUT, _UPDATE):
            pkind, ppayload = prev
            if pkind == _DELETE:
                if kind == _UPDATE:
                    return  # updating a row deleted in this turn: still deleted
                op = (_REPLACE, payload)  # delete then re-add: old columns must not survive
            else:
                # put wins over update (the row may be new); callables are built at commit
                merged_kind = _UPDATE if pkind == kind == _UPDATE else (pkind if pkind != _UPDATE else kind)
                if callable(ppayload) and isinstance(payload, dict):
                    # build the row now so the partial row can apply on top of it
                    ppayload = dict(ppayload())
                if isinstance(ppayload, dict) and isinstance(payload, dict):
                    op = (merged_kind, {**ppayload, **payload})
                else:
                    op = (merged_kind, payload)
        self._dirty[key] = op

    @property
    def dirty(self) -> int:
        """Number of rows staged and not yet committed."""
        return len(self._dirty)

    # -- committing ----------------------------------------------------------------------------

    def commit(self) -> int:
        """Write everything staged in one transaction (the group commit of a loop turn).

        Returns the number of rows written; a turn that changed nothing does not touch the file.
        """
        self._check_owner()
        if not self._dirty:
            return 0
        n = len(self._dirty)
        with self.transaction():
            pass
        return n

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` around the staged rows and any SQL run inside.

        Yields the write connection for statements the staging methods do not cover. Rows staged
        before or inside the block are written in it. On an exception nothing is written, the
        rows stay staged (the engine may retry the commit), and the exception propagates.
        """
        self._check_owner()
        if self._in_tx:
            raise StoreError("transactions do not nest: the engine commits once per loop turn")
        conn = self._conn
        before = self._dirty
        self._dirty = {}
        self._in_tx = True
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._write(before)
                yield conn
                self._write(self._dirty)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except BaseException:
            inside, self._dirty = self._dirty, before
            for key, op in inside.items():
                self._stage(key, op)
            raise
        else:
            self._dirty = {}
        finally:
            self._in_tx = False

    def _write(self, dirty: Mapping[_Key, tuple[str, Any]]) -> None:
        """Group the staged rows by (table, operation, columns) and ``executemany`` each group."""
        groups: dict[tuple[str, str, tuple[str, ...]], list[tuple[Any, ...]]] = {}
        for (table, key), (kind, payload) in dirty.items():
            if kind in (_DELETE, _REPLACE):
                groups.setdefault((table, _DELETE, ()), []).append(key)
            if kind == _DELETE:
                continue
            if callable(payload):
                row = payload()
                if self._key(table, row) != key:
                    raise StoreError(f"{table}: the row built for {key} has primary key {self._key(table, row)}")
            else:
                row = payload  # put/update rows carry their key by construction
            cols = tuple(row)
            if kind == _UPDATE:
                cols = tuple(c for c in cols if c not in self._pk[table])
                if not cols:
                    continue
                groups.setdefault((table, _UPDATE, cols), []).append(tuple(row[c] for c in cols) + key)
            else:
                groups.setdefault((table, _PUT, cols), []).append(tuple(row[c] for c in cols))
        conn = self._conn
        # Deletes first: a _REPLACE is a delete followed by an insert of the same key.
        for (table, kind, cols), batch in sorted(groups.items(), key=lambda g: g[0][1] != _DELETE):
            conn.executemany(self._statement(table, kind, cols), batch)

    def put_statement(self, table: str, cols: tuple[str, ...]) -> str:
        """The statement :meth:`put` writes rows of these columns with (an upsert: a row of
        this key is replaced in these columns), for a writer that hands many rows at once to
        ``executemany`` inside :meth:`transaction` instead of staging each as a dict."""
        self._table(table)
        return self._statement(table, _PUT, tuple(cols))

    def _statement(self, table: str, kind: str, cols: tuple[str, ...]) -> str:
        sql = self._sql.get((table, kind, cols))
        if sql is None:
            # checked once per column set (statements are cached), not once per row
            unknown = set(cols).difference(self._columns[table])
            if unknown:
                raise StoreError(f"{table}: no column {', '.join(sorted(unknown))}")
            pk = self._pk[table]
            where = " AND ".join(f'"{c}" = ?' for c in pk)
            if kind == _DELETE:
                sql = f'DELETE FROM "{table}" WHERE {where}'
            elif kind == _UPDATE:
                # parameters are in row order: the set columns, then the key again
                sets = ", ".join(f'"{c}" = ?' for c in cols)
                sql = f'UPDATE "{table}" SET {sets} WHERE {where}'
            else:
                names = ", ".join(f'"{c}"' for c in cols)
                marks = ", ".join("?" for _ in cols)
                rest = [c for c in cols if c not in pk]
                on = ", ".join(f'"{c}"' for c in pk)
                tail = (
                    "DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in rest)
                    if rest else "DO NOTHING"
                )
                sql = f'INSERT INTO "{table}" ({names}) VALUES ({marks}) ON CONFLICT ({on}) {tail}'
            self._sql[(table, kind, cols)] = sql
        return sql

    # -- reading (any thread) -----------------------------------------------------------------

    def reader(self) -> sqlite3.Connection:
        """A new read-only connection; the caller owns it and closes it.

        In WAL mode it never blocks the writer and sees the last committed state, never a
        half-written turn.
        """
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only = ON")
        conn.row_factory = sqlite3.Row
        return conn

    def _thread_reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.reader()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a read query on this thread's read connection; rows as dicts."""
        return [dict(r) for r in self._thread_reader().execute(sql, params)]

    def rows(self, table: str, where: str = "", params: Sequence[Any] = ()) -> list[Row]:
        """Every committed row of ``table`` (optionally filtered), in primary-key order."""
        self._table(table)
        order = ", ".join(f'"{c}"' for c in self._pk[table]) or "rowid"
        sql = f'SELECT * FROM "{table}"' + (f" WHERE {where}" if where else "") + f" ORDER BY {order}"
        return self.query(sql, params)

    def meta(self) -> dict[str, str]:
        """The committed ``meta`` entries."""
        return {r["key"]: r["value"] for r in self.rows("meta")}

    # -- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection. Rows still staged are dropped, as after a crash."""
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file to :data:`SCHEMA_VERSION`, one transaction per migration.

    The version is read under ``BEGIN IMMEDIATE`` so that two processes opening a new file at
    once do not both apply 001.
    """
    known = migrations()
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            has_version = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
            ).fetchone()
            if has_version:
                current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            else:
                others = conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                ).fetchall()
                if others:
                    raise StoreError(
                        f"{path}: an SQLite database but not a poolscale store (no schema_version "
                        f"table; it has {', '.join(r[0] for r in others[:5])}); choose another data directory"
                    )
                conn.execute(
                    "CREATE TABLE schema_version(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                current = 0
            if current > len(known):
                raise StoreError(
                    f"{path}: store schema version {current} is newer than this poolscale knows "
                    f"({len(known)}); upgrade poolscale or choose another data directory"
                )
            if current == len(known):
                conn.execute("COMMIT")
                return
            number, script = known[current]
            try:
                for statement in _statements(script):
                    conn.execute(statement)
            except sqlite3.Error as exc:
                # say which step failed rather than blaming the file
                raise StoreError(f"{path}: schema migration {number:03d} failed: {exc}") from None
            stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            conn.execute("INSERT INTO schema_version(version, applied_at) VALUES (?, ?)", (number, stamp))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
