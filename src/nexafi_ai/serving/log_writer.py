"""Durable, batched writer of the ``inference_log`` table.

Scoring must not wait for the database, yet no acknowledged inference may be lost: regulators
and label joins depend on the log being complete. So ``submit`` only appends to a bounded
in-memory queue; one background thread commits rows in batches. When the queue is full (the
database is slow or down) rows are appended to fsync'd JSON-lines spool files instead, which
are replayed when the database answers again, or by the next process. Only when the spool is
over its byte cap does ``submit`` refuse (``LogBackpressure``, a 503), so a row is either
durable or visibly rejected. Inserts use ``ON CONFLICT (request_id) DO NOTHING``: a retry after
an ambiguous failure, or a replay of rows that did commit, never duplicates and never errors.

A row whose decision is ``review`` (a fraud transaction held for an analyst, or any use case
that logs that decision) also enters ``review_queue`` in the same transaction as its batch, so
scoring needs no database round trip to enqueue it and a committed log row is never missing
its queue entry. The queue row is copied from the log row just inserted (``INSERT ... SELECT``)
and is also ``ON CONFLICT DO NOTHING``, so a replayed or resubmitted row enqueues exactly once,
and only when the row that won the log (first write wins) says ``review``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypedDict, cast

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from nexafi_ai.pii import contains_pan

__all__ = [
    "COLUMNS",
    "REVIEW_DECISION",
    "SUMMARY_MAX_BYTES",
    "InferenceLogWriter",
    "InferenceRow",
    "LogBackpressure",
    "LogWriterStats",
    "review_summary",
]

logger = logging.getLogger(__name__)

_BACKOFF_MIN_S = 0.05
_BACKOFF_MAX_S = 2.0
_WARN_EVERY_S = 30.0
#: A spool file is closed and a new one started past this size, so a long outage is replayed
#: (and its files deleted) in steps instead of one huge file.
_SPOOL_FILE_MAX = 64 << 20


class InferenceRow(TypedDict):
    """One ``inference_log`` row, as scoring produces it (``created_at`` aware UTC)."""

    request_id: str
    use_case: str
    entity_id: str | None
    model_name: str
    model_version: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    score: float | None
    decision: str | None
    latency_ms: float
    shadow: dict[str, Any] | None
    created_at: datetime


#: The inference_log columns in the order the encoders below produce values (the schema test
#: checks this list against the table).
COLUMNS = (
    "request_id",
    "use_case",
    "entity_id",
    "model_name",
    "model_version",
    "inputs",
    "outputs",
    "score",
    "decision",
    "latency_ms",
    "shadow",
    "created_at",
)
_INSERT = "INSERT INTO inference_log (" + ", ".join(COLUMNS) + ") VALUES ({}) "  # noqa: S608
_CONFLICT = "ON CONFLICT (request_id) DO NOTHING"
# Constant column names; every value is a bound parameter.
_SQL = {
    "sqlite": _INSERT.format(", ".join("?" for _ in COLUMNS)) + _CONFLICT,
    "postgresql": _INSERT.format(
        ", ".join("%s::jsonb" if c in {"inputs", "outputs", "shadow"} else "%s" for c in COLUMNS)
    )
    + _CONFLICT,
}


#: The logged decision that puts a row in ``review_queue``.
REVIEW_DECISION = "review"
#: The review summary is what an analyst's list shows at a glance, not a copy of the inputs.
SUMMARY_MAX_BYTES = 1024
#: Input fields worth a glance, in display order; any of them may be absent.
_SUMMARY_INPUTS = (
    "amount",
    "currency",
    "merchant_name",
    "merchant",
    "mcc",
    "channel",
    "country",
    "card_id",
)
_SUMMARY_MAX_REASONS = 5
_SUMMARY_MAX_TEXT = 80
# The queue row is copied from the log row inserted just before in the same transaction, so
# what an analyst sees (entity, version, score, time) is what the log kept: with first write
# wins, a resubmitted id whose stored decision is not "review" enqueues nothing. A row without
# entity_id could never be labelled, so it is not enqueued. The WHERE clause also resolves
# SQLite's INSERT ... SELECT ... ON CONFLICT parsing ambiguity.
_REVIEW_INSERT = (
    "INSERT INTO review_queue (use_case, entity_id, request_id, model_version, score, summary, "
    "status, created_at) SELECT use_case, entity_id, request_id, model_version, score, {}, "
    "'open', created_at FROM inference_log WHERE request_id = {} AND decision = 'review' "
    "AND entity_id IS NOT NULL ON CONFLICT (request_id) DO NOTHING"
)
_REVIEW_SQL = {
    "sqlite": _REVIEW_INSERT.format("?", "?"),
    "postgresql": _REVIEW_INSERT.format("%s::jsonb", "%s"),
}


def _glance(value: Any) -> str | float | int | bool | None:
    """A summary-safe scalar: finite numbers, short text that is not a card number."""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        text = value[:_SUMMARY_MAX_TEXT]
        return None if contains_pan(value) else text
    return None


def _reason(reason: Any) -> dict[str, Any] | str | None:
    if isinstance(reason, dict):
        brief = {
            key: v for key in ("code", "description") if (v := _glance(reason.get(key))) is not None
        }
        return brief or None
    text = _glance(reason)
    return text if isinstance(text, str) else None


def review_summary(row: InferenceRow) -> dict[str, Any]:
    """What an analyst needs at a glance: amount, merchant, channel, card token, top reasons.

    Generic over use cases: fields a row does not have are left out. Never a card number
    (text holding one is dropped, not masked); text is cut to 80 characters and at most five
    reasons are kept, and the writer bounds the stored JSON to :data:`SUMMARY_MAX_BYTES`.
    Total: odd values are skipped, not raised, because a summary must never cost the log row.
    """
    inputs = row.get("inputs")
    outputs = row.get("outputs")
    summary: dict[str, Any] = {}
    if isinstance(inputs, dict):
        for key in _SUMMARY_INPUTS:
            value = _glance(inputs.get(key))
            if value is not None:
                summary[key] = value
    raw = outputs.get("reasons") if isinstance(outputs, dict) else None
    if isinstance(raw, list):
        reasons = [r for r in map(_reason, raw[:_SUMMARY_MAX_REASONS]) if r is not None]
        if reasons:
            summary["reasons"] = reasons
    return summary


def _bounded(summary: dict[str, Any]) -> str:
    """The summary's JSON, trailing reasons (then trailing fields) dropped until it fits.

    ASCII-escaped JSON, so characters are bytes. Dumped once in the usual case: this runs on
    the writer thread, which shares the GIL with the scoring event loop.
    """
    text = _json(summary) or "{}"
    while len(text) > SUMMARY_MAX_BYTES:
        kept = summary.get("reasons")
        if kept:
            kept.pop()
            if not kept:
                del summary["reasons"]
        else:
            summary.popitem()
        text = _json(summary) or "{}"
    return text


def _review_params(row: InferenceRow) -> tuple[str, str] | None:
    """The queue insert's parameters when the row is a review, else None (the common case)."""
    if row["decision"] != REVIEW_DECISION or row["entity_id"] is None:
        return None
    try:
        summary = _bounded(review_summary(row))
    except Exception:  # never lose or reject a log row over its summary
        logger.exception("inference log: cannot summarise review row; enqueued without summary")
        summary = "{}"
    return summary, row["request_id"]


def _json(value: dict[str, Any] | None) -> str | None:
    # Strict JSON (no NaN): PostgreSQL's JSONB refuses it, and SQLite must hold the same rows.
    return None if value is None else json.dumps(value, allow_nan=False, separators=(",", ":"))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("created_at is a naive datetime")
    return moment.astimezone(UTC)


def _values(row: InferenceRow) -> tuple[Any, ...]:
    return (
        row["request_id"],
        row["use_case"],
        row["entity_id"],
        row["model_name"],
        row["model_version"],
        _json(row["inputs"]),
        _json(row["outputs"]),
        row["score"],
        row["decision"],
        row["latency_ms"],
        _json(row["shadow"]),
    )


def _encode_pg(row: InferenceRow) -> tuple[Any, ...]:
    return (*_values(row), _utc(row["created_at"]))


def _encode_sqlite(row: InferenceRow) -> tuple[Any, ...]:
    # The text format SQLAlchemy's SQLite DateTime writes and reads back (UTC, no offset).
    return (*_values(row), _utc(row["created_at"]).strftime("%Y-%m-%d %H:%M:%S.%f"))


class LogBackpressure(RuntimeError):
    """The row can be neither queued nor spooled; the caller must fail the request (503)."""


@dataclass(frozen=True, slots=True)
class LogWriterStats:
    """A snapshot for Prometheus; ``pending`` is rows in memory (queue plus batch in flight)."""

    written: int
    spooled: int
    pending: int
    failed_attempts: int
    spool_bytes: int
    rejected: int


def _dumps(row: InferenceRow) -> bytes:
    doc = {**row, "created_at": row["created_at"].isoformat()}
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _loads(line: bytes) -> InferenceRow:
    doc = json.loads(line)
    created = datetime.fromisoformat(doc["created_at"])
    if created.tzinfo is None:
        raise ValueError("spooled created_at has no timezone")
    doc["created_at"] = created
    return cast(InferenceRow, doc)


def _is_poison(exc: BaseException) -> bool:
    """True when the rows themselves are bad, so retrying them can never succeed.

    Data and integrity errors (NaN in JSONB, a too-long id, a NULL model name) and bind-time
    errors (naive datetime, unserialisable JSON) belong to rows; everything else (connection
    lost, server shutting down, missing table) is treated as the database being unavailable.
    """
    if isinstance(exc, sa_exc.DataError | sa_exc.IntegrityError):
        return True
    return isinstance(exc, sa_exc.StatementError) and not isinstance(exc, sa_exc.DBAPIError)


def _try_lock(handle: IO[bytes]) -> bool:
    """Exclusive advisory lock, so processes sharing a spool dir never replay a live file."""
    if sys.platform == "win32":  # no flock; one process per spool dir there
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class InferenceLogWriter:
    """Queue rows in memory, commit them in batches from one thread, spool what cannot wait."""

    def __init__(
        self,
        engine: Engine,
        spool_dir: Path,
        *,
        queue_size: int = 50_000,
        batch_size: int = 1_000,
        flush_interval_s: float = 0.05,
        spool_max_bytes: int = 1 << 30,
    ) -> None:
        self._engine = engine
        self._spool_dir = Path(spool_dir)
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._spool_max_bytes = spool_max_bytes
        # _cond guards the queue, the batch in flight and the closing flags, so close() can take
        # a consistent snapshot of every row held in memory even if the thread is stuck in I/O.
        self._cond = threading.Condition()
        self._queue: deque[InferenceRow] = deque()
        self._held: list[InferenceRow] = []
        self._closed = False
        self._abandoned = False
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._sql = self._review_sql = ""
        self._encode: Callable[[InferenceRow], tuple[Any, ...]] = _encode_sqlite
        # _spool_lock guards the open spool file and the spool counters.
        self._spool_lock = threading.Lock()
        self._spool_file: IO[bytes] | None = None
        self._spool_file_bytes = 0
        self._spool_bytes: int | None = None  # counted lazily from the files already there
        self._spool_dirty = False
        self._seq = 0
        self._written = self._spooled = self._failed = self._rejected = 0

    @property
    def stats(self) -> LogWriterStats:
        """Counters since construction, for metrics and readiness checks."""
        with self._cond:
            pending = len(self._queue) + len(self._held)
        with self._spool_lock:
            spool_bytes = self._spool_size()
        return LogWriterStats(
            self._written, self._spooled, pending, self._failed, spool_bytes, self._rejected
        )

    def start(self) -> None:
        """Start the writer thread (idempotent); it first replays spool files left behind."""
        with self._cond:
            if self._closed:
                raise RuntimeError("inference log writer is closed")
            if self._thread is not None:
                return
            dialect = self._engine.dialect.name
            if dialect not in _SQL:
                raise ValueError(f"unsupported database for the inference log: {dialect}")
            self._sql = _SQL[dialect]
            self._review_sql = _REVIEW_SQL[dialect]
            self._encode = _encode_pg if dialect == "postgresql" else _encode_sqlite
            self._spool_dirty = True
            self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
            self._thread.start()

    def submit(self, row: InferenceRow) -> None:
        """Accept a row without I/O; spool it when the queue is full; raise when both are."""
        with self._cond:
            if self._closed:
                raise LogBackpressure("inference log writer is closed")
            if len(self._queue) < self._queue_size:
                self._queue.append(row)
                if len(self._queue) >= self._batch_size:
                    self._cond.notify()
                return
        self._spill([row], enforce_cap=True)

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting, flush to the database; spool whatever is not written by ``timeout``."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._cond:
            # The thread is done or stuck in a database call; either way it no longer owns rows.
            self._abandoned = True
            left = [*self._held, *self._queue]
            self._queue.clear()
        if left:
            logger.warning("inference log: %d rows not written before close; spooling", len(left))
            self._spill(left, enforce_cap=False)
        with self._spool_lock:
            self._close_spool_file()

    # -- spool ---------------------------------------------------------------------------------

    def _spool_size(self) -> int:
        if self._spool_bytes is None:
            files = self._spool_dir.glob("spool-*.jsonl") if self._spool_dir.exists() else []
            self._spool_bytes = sum(p.stat().st_size for p in files)
        return self._spool_bytes

    def _spill(self, rows: list[InferenceRow], *, enforce_cap: bool) -> None:
        data = b"".join(_dumps(row) for row in rows)
        with self._spool_lock:
            size = self._spool_size()  # before writing, or a first scan would count this row
            if enforce_cap and size + len(data) > self._spool_max_bytes:
                raise LogBackpressure("inference log queue full and spool over its byte cap")
            try:
                if self._spool_file is None or self._spool_file_bytes >= _SPOOL_FILE_MAX:
                    self._open_spool_file()
                assert self._spool_file is not None
                self._spool_file.write(data)
                self._spool_file.flush()
                os.fsync(self._spool_file.fileno())
            except OSError as exc:
                # A partial line may be left: start a new file so the next row is not glued to it.
                self._close_spool_file()
                raise LogBackpressure(f"cannot spool inference log rows: {exc}") from exc
            self._spool_file_bytes += len(data)
            self._spool_bytes = size + len(data)
            self._spooled += len(rows)
            self._spool_dirty = True
            if self._closed:  # a submit that raced close(): its row is durable, drop the handle
                self._close_spool_file()

    def _open_spool_file(self) -> None:
        self._close_spool_file()
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"spool-{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.jsonl"
        handle = open(self._spool_dir / name, "ab")  # noqa: SIM115 - kept open across calls
        _try_lock(handle)
        self._spool_file, self._spool_file_bytes = handle, 0

    def _close_spool_file(self) -> None:
        if self._spool_file is not None:
            self._spool_file.close()  # also releases the advisory lock
            self._spool_file = None

    def _drain_spool(self) -> None:
        """Replay closed spool files oldest first; delete each only after its rows committed."""
        with self._spool_lock:
            self._close_spool_file()  # new spills go to a new file, not the one being replayed
            self._spool_dirty = False
            self._spool_size()  # count the files before any is deleted
            files = sorted(self._spool_dir.glob("spool-*.jsonl"))
        try:
            for path in files:
                if self._abandoned:
                    return
                self._replay_file(path)
        except BaseException:
            with self._spool_lock:
                self._spool_dirty = True
            raise

    def _replay_file(self, path: Path) -> None:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below, after the unlink
        except FileNotFoundError:
            return  # replayed by another process meanwhile
        with handle:
            if not _try_lock(handle) or os.fstat(handle.fileno()).st_nlink == 0:
                return  # another process is writing or replaying it
            batch: list[InferenceRow] = []
            for line in handle:
                try:
                    batch.append(_loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    if line.endswith(b"\n"):  # a torn last line (crash) was never acknowledged
                        self._reject(line, exc)
                    continue
                if len(batch) >= self._batch_size:
                    self._write(batch)
                    batch = []
            if batch:
                self._write(batch)
            size = os.fstat(handle.fileno()).st_size
            path.unlink(missing_ok=True)
        with self._spool_lock:
            self._spool_bytes = max(0, self._spool_size() - size)
        logger.info("inference log: replayed spool file %s", path.name)

    def _reject(self, row: InferenceRow | bytes, exc: BaseException) -> None:
        """Set a row that can never be inserted aside, so it cannot wedge the whole log."""
        self._rejected += 1
        logger.error("inference log: rejected row (kept in rejected-*.jsonl): %s", exc)
        doc = row.decode(errors="replace") if isinstance(row, bytes) else row
        line = json.dumps({"row": doc, "error": str(exc)}, default=str, ensure_ascii=False)
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        with open(self._spool_dir / f"rejected-{os.getpid()}.jsonl", "a", encoding="utf-8") as f:
            f.write(line + "\n")

    # -- writer thread -------------------------------------------------------------------------

    def _insert(self, params: list[tuple[Any, ...]], reviews: list[tuple[Any, ...]]) -> None:
        """Commit log rows and their review queue entries together, or neither."""
        with self._engine.begin() as conn:
            conn.exec_driver_sql(self._sql, params)
            if reviews:
                conn.exec_driver_sql(self._review_sql, reviews)
        self._written += len(params)

    def _write(self, rows: list[InferenceRow]) -> None:
        """Insert in one transaction; on a row-level error, isolate and reject the bad rows.

        Rows are encoded here, in plain Python, and handed to the driver's executemany: the
        writer shares the GIL with the event loop, and SQLAlchemy's per-row bind processing
        cost the scoring path a visible share of its throughput. A row that is not a review
        costs one comparison more; a review adds its summary and one executemany per batch.
        """
        encoded: list[tuple[InferenceRow, tuple[Any, ...], tuple[Any, ...] | None]] = []
        for row in rows:
            try:
                encoded.append((row, self._encode(row), _review_params(row)))
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                self._reject(row, exc)  # NaN, a naive timestamp, a non-JSON value
        if not encoded:
            return
        try:
            self._insert(
                [params for _, params, _ in encoded],
                [review for _, _, review in encoded if review is not None],
            )
        except Exception as exc:
            if not _is_poison(exc):
                raise
            for row, params, review in encoded:
                try:
                    self._insert([params], [] if review is None else [review])
                except Exception as row_exc:
                    if not _is_poison(row_exc):
                        raise
                    self._reject(row, row_exc)

    def _collect(self) -> tuple[list[InferenceRow], bool]:
        """The batch to write (the held one while retrying) and whether close() was called."""
        with self._cond:
            if not self._held:
                if len(self._queue) < self._batch_size and not self._closed:
                    self._cond.wait(self._flush_interval_s)
                take = min(self._batch_size, len(self._queue))
                self._held = [self._queue.popleft() for _ in range(take)]
            return list(self._held), self._closed

    def _run(self) -> None:
        backoff, failing_since, last_warn = _BACKOFF_MIN_S, 0.0, 0.0
        while not self._abandoned:
            batch, closing = self._collect()
            try:
                if batch:
                    self._write(batch)
                    with self._cond:
                        self._held = []
                if self._spool_dirty:
                    self._drain_spool()
            except Exception as exc:
                self._failed += 1
                now = time.monotonic()
                if not failing_since or now - last_warn >= _WARN_EVERY_S:
                    # The driver's message only: SQLAlchemy's own repeats parameters (inputs).
                    reason = str(getattr(exc, "orig", None) or type(exc).__name__)
                    logger.warning(
                        "inference log: database write failed (%s); holding %d rows, "
                        "spooling overflow, retrying",
                        reason.strip().splitlines()[0][:200] if reason.strip() else "?",
                        len(batch),
                    )
                    failing_since = failing_since or now
                    last_warn = now
                if closing and now >= self._deadline:
                    return  # close() spools the held rows
                time.sleep(min(backoff, max(0.0, self._deadline - now)))
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            if failing_since:
                logger.warning(
                    "inference log: database back after %.1fs", time.monotonic() - failing_since
                )
            backoff, failing_since = _BACKOFF_MIN_S, 0.0
            if closing and not self._spool_dirty:
                with self._cond:
                    if not self._queue and not self._held:
                        return
