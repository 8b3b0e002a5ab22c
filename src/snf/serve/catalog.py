"""The SQLite catalogue (stdlib sqlite3, one file in DIR): cached manifests and encode jobs.

The directory is the truth for assets: a manifest row is only a cache, keyed by
the file's (size, mtime_ns, inode). Jobs live only here. The server, its
encode workers and other servers on the same folder (separate processes) share
the file, hence WAL and a busy timeout (30 s); claims are `BEGIN IMMEDIATE`
transactions, each job row names the server that runs it (`owner`), and one
pending job per asset id is a unique index, so no two servers can both take it.
WAL needs every process on one host (it uses shared memory): replicas on
several hosts need their own folder, or a shared one on storage with working
POSIX locks and `SNF_SQLITE_JOURNAL=delete`.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time

STATES = ("queued", "running", "done", "failed")
SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    id TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ino INTEGER NOT NULL,
    manifest TEXT NOT NULL, indexed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, message TEXT,
    error TEXT, asset_id TEXT NOT NULL, params TEXT NOT NULL, input_name TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, pid INTEGER,
    created REAL NOT NULL, started REAL, finished REAL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created);
"""
# One pending job per asset id, enforced by SQLite itself (a partial unique index), so two
# uploads racing for one id cannot both be queued whatever the timing.
PENDING_INDEX = ("CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_pending ON jobs (asset_id) "
                 "WHERE state IN ('queued', 'running')")


class Duplicate(Exception):
    """Another queued or running job already writes this asset id."""


def server_id() -> str:
    """This server process, as job rows name their owner: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Catalog:
    """One connection, serialised by a lock: calls are short and safe from any thread."""

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            journal = os.environ.get("SNF_SQLITE_JOURNAL", "wal").lower()
            self._db.execute(f"PRAGMA journal_mode={'DELETE' if journal == 'delete' else 'WAL'}")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
            if "output_sha256" not in columns:  # catalogues made before it: add the column
                self._db.execute("ALTER TABLE jobs ADD COLUMN output_sha256 TEXT")
            # catalogues made before the index may hold duplicates: keep the oldest pending job
            self._db.execute("UPDATE jobs SET state = 'failed', error = 'another job writes this asset', "
                             "pid = NULL WHERE state IN ('queued', 'running') AND EXISTS (SELECT 1 FROM jobs o "
                             "WHERE o.asset_id = jobs.asset_id AND o.state IN ('queued', 'running') "
                             "AND (o.created < jobs.created OR (o.created = jobs.created AND o.id < jobs.id)))")
            if "owner" not in columns:  # the server that runs a job (several may share DIR)
                try:
                    self._db.execute("ALTER TABLE jobs ADD COLUMN owner TEXT")
                except sqlite3.OperationalError:  # another server added it first
                    pass
            self._db.execute(PENDING_INDEX)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _all(self, sql: str, args=()) -> list:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _run(self, sql: str, args=()) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # ------------------------------------------------------------ assets

    def asset(self, asset_id: str) -> tuple | None:
        """(key, manifest) cached for an asset, or None."""
        rows = self._all("SELECT size, mtime_ns, ino, manifest FROM assets WHERE id = ?", (asset_id,))
        if not rows:
            return None
        r = rows[0]
        return (r["size"], r["mtime_ns"], r["ino"]), json.loads(r["manifest"])

    def put_asset(self, asset_id: str, key: tuple, manifest: dict) -> None:
        self._run("INSERT OR REPLACE INTO assets VALUES (?, ?, ?, ?, ?, ?)",
                  (asset_id, *key, json.dumps(manifest), time.time()))

    def forget_assets_except(self, keep: set) -> None:
        """Drop cached rows of files that left the directory."""
        for r in self._all("SELECT id FROM assets"):
            if r["id"] not in keep:
                self._run("DELETE FROM assets WHERE id = ?", (r["id"],))

    # ------------------------------------------------------------ jobs

    def add_job(self, job_id: str, asset_id: str, params: dict, input_name: str) -> None:
        """Queue a job; Duplicate if a queued or running job already writes `asset_id`."""
        now = time.time()
        try:
            self._run("INSERT INTO jobs (id, state, asset_id, params, input_name, created, updated) "
                      "VALUES (?, 'queued', ?, ?, ?, ?, ?)", (job_id, asset_id, json.dumps(params), input_name, now, now))
        except sqlite3.IntegrityError:
            raise Duplicate(asset_id) from None

    def queued(self) -> int:
        """How many jobs wait to run."""
        return self._all("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'")[0]["n"]

    def set_output(self, job_id: str, sha256: str) -> None:
        """Record the hash of the file a job is about to place (so a crash after placing is not a failure)."""
        self._run("UPDATE jobs SET output_sha256 = ?, updated = ? WHERE id = ?", (sha256, time.time(), job_id))

    def job(self, job_id: str) -> dict | None:
        rows = self._all("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs(self, limit: int = 100) -> list:
        return [_job(r) for r in self._all("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,))]

    def pending_for(self, asset_id: str) -> str | None:
        """The id of a queued or running job that will write `asset_id`, if any."""
        rows = self._all("SELECT id FROM jobs WHERE asset_id = ? AND state IN ('queued', 'running')", (asset_id,))
        return rows[0]["id"] if rows else None

    def claim_next(self, owner: str | None = None) -> dict | None:
        """Move the oldest queued job to running, owned by `owner` (one transaction), and return it."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY created LIMIT 1").fetchone()
                if row is not None:
                    now = time.time()
                    db.execute("UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ?, "
                               "updated = ?, progress = 0, message = 'starting', pid = NULL, owner = ? WHERE id = ?",
                               (now, now, owner or server_id(), row["id"]))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return _job(db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone()) if row else None

    def set_pid(self, job_id: str, pid: int) -> None:
        self._run("UPDATE jobs SET pid = ?, updated = ? WHERE id = ?", (pid, time.time(), job_id))

    def progress(self, job_id: str, fraction: float, message: str) -> None:
        self._run("UPDATE jobs SET progress = ?, message = ?, updated = ? WHERE id = ? AND state = 'running'",
                  (max(0.0, min(1.0, fraction)), message, time.time(), job_id))

    def finish(self, job_id: str, state: str, error: str | None = None, message: str | None = None) -> bool:
        """Move a running job to `done` or `failed`; False if it was not running."""
        assert state in ("done", "failed")
        now = time.time()
        done = state == "done"
        return self._run("UPDATE jobs SET state = ?, error = ?, finished = ?, updated = ?, pid = NULL, "
                         "progress = CASE WHEN ? THEN 1.0 ELSE progress END, message = ? "
                         "WHERE id = ? AND state = 'running'",
                         (state, error, now, now, done, message or state, job_id)) > 0

    def requeue(self, job_id: str, message: str, counted: bool = True) -> None:
        """Put a running job back in the queue; `counted=False` (a clean stop) gives its run back."""
        self._run("UPDATE jobs SET state = 'queued', pid = NULL, progress = 0, message = ?, updated = ?, "
                  "attempts = attempts - ? WHERE id = ? AND state = 'running'",
                  (message, time.time(), 0 if counted else 1, job_id))

    def running(self) -> list:
        return [_job(r) for r in self._all("SELECT * FROM jobs WHERE state = 'running'")]


def _job(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["params"] = json.loads(d["params"])
    return d
