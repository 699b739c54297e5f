"""Fleet ingest: many log files, many hosts and days, appended to one hive-partitioned Parquet dataset.

Layout: one directory per table, partitioned; each ingest adds one part file per partition (per
worker task when ``processes`` > 1)::

    DIR/gc/host=node1/date=2026-11-27/part-<uuid>.parquet
    DIR/gc/_common_metadata              schema of the table's files (empty tables too)
    DIR/_gclens_manifest.parquet         every source ingested: where it stopped, its fingerprint

Every row carries provenance: ``source`` (the file's absolute path), ``ingest_id``, and one string
column per label (``labels={"cluster": "eu1"}``). A label named like an envelope column (``host``,
``unit``, ``container``, ``stream``) wins over the envelope: it replaces that column in every row of
the file (keep both by naming the label otherwise, e.g. ``site``).

Partition values (``partition_by``; default ``("host", "date")``) follow one rule for every table of
an ingest, so a join of ``runs``, ``sources`` or ``rejects`` to ``gc`` on the partition columns
finds its rows:

1. a label of that name, for every row of the file;
2. else the row's own value: ``host``/``unit``/``container``/``stream`` from the envelope, ``date``
   the UTC day of the row's wall clock (``ts``, else the collector's ``log_ts``; ``start_ts`` for
   ``runs``);
3. else, for the tables without envelope columns or times (``runs`` without anchor, ``rejects``,
   ``sources``), the value most seen in the file's other rows;
4. else null, written ``__HIVE_DEFAULT_PARTITION__`` (read back as null by pyarrow, Spark and
   DuckDB); for ``date``, the UTC day of the file's modification time.

A run that crosses midnight UTC has rows under two dates and its ``runs`` row under its start's.
Partition columns live in the directory names, not in the files. The files hold
``gclens.store.schemas.storage_schema``: microsecond timestamps (``log_ts_ns`` keeps the collector's
nanoseconds), which every engine reads.

Files and directories are created with the process umask's modes.

Re-ingesting is safe. A file whose fingerprint (SHA-256 of the first 64 KiB of its text, and the
text's size; compressed files are known by their decompressed text) is in the manifest adds nothing,
whatever its name now is (rotation by rename, compression by logrotate). A file that grew (the bytes
fingerprinted last time unchanged, size larger) adds only its new lines: parsing resumes at the
byte offset recorded, line numbers continue, and the first run of the new lines keeps the run id of
the last one ingested unless its gc numbers (or SCHED clock) restart. A file rewritten under its
old name is ingested as new. Limits of resuming: a run continued across two ingests has one
``runs`` row per ingest (``first_line``/``last_line`` tell them apart) and the appended lines get
their own wall-clock anchor estimate; lines after the boundary that belong to the last cycle
ingested get its gc number but no ``ts``; scheddetail lines cut from their SCHED header are
orphans. A plain file's unterminated last line (a writer in the middle of a line) is left for the
next ingest unless ``complete=True``; a compressed file is read to its end.

Each ingest is atomic: parts go to ``DIR/.ingest-<id>/``, a commit marker is written, parts are
renamed into place and the manifest is replaced last. An ingest interrupted before its marker is
rolled back (its temporary directory removed), one interrupted after it is completed, by the next
ingest. Ingests into one directory are serialised by a lock file (``gclens.store.dataset_commit``).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gclens._errors import InputError, OutputError, UsageError
from gclens.pipeline.parse import SourceResult
from gclens.pipeline.reader import trace_from
from gclens.pipeline.stream import Options, _one_source
from gclens.read.sources import Source, SourceLike, expand
from gclens.store.dataset_commit import (
    COMMON_METADATA,
    MANIFEST,
    MANIFEST_SCHEMA,
    _joined,
    _locked,
    _make_tmp,
    _recover,
    _renumbered,
    _roll_forward,
    _write_commit,
    read_manifest,
)
from gclens.store.ingest_parse import (
    ENVELOPE_KEYS,
    NULL_PARTITION,
    Done,
    Spec,
    run,
    with_labels,
)
from gclens.store.ingest_plan import plan
from gclens.store.schemas import SCHEMA_VERSION, SCHEMAS, TABLE_NAMES

__all__ = ["COMMON_METADATA", "MANIFEST", "MANIFEST_SCHEMA", "IngestResult", "Labels", "ingest", "open_table",
           "parse_lines", "read_manifest"]

_RESERVED = frozenset({"source", "ingest_id", "date"})
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Labels = Mapping[str, str] | Callable[[Path], Mapping[str, str]] | None
"""One set of labels for every file, or a function of each file's path."""


@dataclass(frozen=True)
class IngestResult:
    """What one ``ingest`` call did: which files it read from where, and the rows it added."""

    ingest_id: str
    dataset_dir: Path
    new: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    """Files that could not be read, with the error (also in ``sources.error``); the others were ingested."""
    lines: int = 0
    bytes: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    parts: tuple[Path, ...] = ()


def ingest(files: SourceLike | Sequence[SourceLike], dataset_dir: str | os.PathLike[str], *,
           partition_by: Sequence[str] = ("host", "date"), labels: Labels = None,
           processes: int = 1, options: Options | None = None, complete: bool = False) -> IngestResult:
    """Append the tables parsed from ``files`` (paths or globs) to the dataset at ``dataset_dir``.

    ``labels`` is one mapping for every file, or a function of the file's path giving its own
    (evaluated here, before any parsing; a label a file lacks is null for it).
    ``processes`` > 1 parses files in parallel, one file per task; the rows are the same as with 1.
    ``options`` (``gclens.pipeline.reader.make_options``) sets the envelope, ``start`` and clock as for
    ``read_trace``. ``complete=True`` also ingests a plain file's unterminated last line (the file is
    finished, e.g. a crashed process's log). See the module docstring for layout and resuming.

    A file that cannot be read (permission denied, corrupt or truncated compression, gone since it
    was listed) does not stop the others: it gets one ``sources`` row with its ``error``, no
    manifest entry (the next ingest tries it again), and is listed in ``IngestResult.failed``.

    Raises UsageError for bad arguments, InputError when a path given is missing or a directory
    and OutputError when the dataset cannot be written; nothing is added in these cases.
    """
    if processes < 1:
        raise UsageError(f"processes must be >= 1, got {processes}")
    paths = _file_paths(files)
    per_file, label_keys = _labels_per_file(labels, paths)
    keys = _check_partition_by(partition_by, label_keys)
    root = _dataset_root(dataset_dir)
    with _locked(root):
        _recover(root)
        manifest = read_manifest(root)
        _check_layout(manifest, keys)
        ingest_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ-") + uuid.uuid4().hex[:8]
        tasks, skipped = plan(paths, manifest, complete, per_file)
        tmp = _make_tmp(root, ingest_id)
        spec = Spec(tmp, ingest_id, keys, label_keys, options or Options(), complete)
        committing = False
        try:
            done, chunks = run(tasks, spec, processes)
            _write_commit(spec, done, chunks, root)
            committing = True
            parts = _roll_forward(root, tmp)
        except OSError as exc:
            raise OutputError(f"{root}: ingest failed ({exc}); "
                              + ("the next ingest completes it" if committing else "nothing was added")) from None
        finally:
            if not committing:
                shutil.rmtree(tmp, ignore_errors=True)
    return _result(ingest_id, root, done, skipped, parts)


def parse_lines(lines: pa.Table | pa.RecordBatch, *, source: str, labels: Mapping[str, str] | None = None,
                options: Options | None = None) -> dict[str, pa.Table]:
    """Parse an Arrow batch of log lines of ONE source into every table, as ``read_trace`` would.

    ``lines`` has a ``line`` column (string or binary; one line per value, without its newline;
    a value holding newlines, e.g. a whole file, is split there) and optionally ``line_no``, which
    orders the lines and numbers the rows. Runs and anchors need the whole source: pass all its lines
    at once. The text is the values joined by newlines, ending in one (unless the last value already
    does), so an unterminated last line cannot be told apart. Touches no file: any engine can call it.
    """
    table = pa.Table.from_batches([lines]) if isinstance(lines, pa.RecordBatch) else lines
    if "line" not in table.column_names:
        raise UsageError(f"parse_lines needs a 'line' column; got {', '.join(table.column_names) or 'none'}")
    numbers: list[int] | None = None
    if "line_no" in table.column_names:
        table = table.take(pc.sort_indices(table, [("line_no", "ascending")]))
        numbers = table.column("line_no").to_pylist()
    data = _joined(table.column("line"))
    if numbers is not None and data.count(b"\n") != len(numbers):
        raise UsageError("with line_no, each 'line' value must be one line (no newline inside)")
    result = SourceResult(Source(source, path=Path(source) if source else None, stream=io.BytesIO(data)))
    tables = trace_from(_one_source(result, options or Options())).tables
    clean = _check_labels(labels)
    return {name: with_labels(_renumbered(t, numbers), clean) for name, t in tables.items()}




def open_table(dataset_dir: str | os.PathLike[str], table: str) -> Any:
    """A ``pyarrow.dataset.Dataset`` over one table, with its partition columns and exact types.

    The types are the files' (``storage_schema``: microsecond timestamps, ``log_ts_ns``), as every
    other engine sees them; ``date`` is a date and the other partition columns strings.
    """
    import pyarrow.dataset as ds

    if table not in SCHEMAS:
        raise UsageError(f"unknown table {table!r}; choose one of {', '.join(TABLE_NAMES)}")
    root = Path(dataset_dir)
    keys = _layout(read_manifest(root))
    if keys is None or not (root / table / COMMON_METADATA).exists():
        raise InputError(f"{root}: not a gclens dataset (no manifest or no {table}/{COMMON_METADATA})")
    parts = pa.schema([pa.field(k, pa.date32() if k == "date" else pa.string()) for k in keys])
    schema = pq.read_schema(root / table / COMMON_METADATA)
    return ds.dataset(root / table, format="parquet", schema=pa.unify_schemas([schema, parts]),
                      partitioning=ds.HivePartitioning(parts, null_fallback=NULL_PARTITION))


def _check_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    clean = dict(labels or {})
    for key, value in clean.items():
        if not _LABEL_NAME.fullmatch(key) or key in _RESERVED:
            raise UsageError(f"label {key!r}: a label name is a column name ([A-Za-z_][A-Za-z0-9_]*), "
                             f"not one of {', '.join(sorted(_RESERVED))}")
        if not isinstance(value, str) or not value:
            raise UsageError(f"label {key}={value!r}: the value must be a non-empty string")
        for name, schema in SCHEMAS.items():
            if key in schema.names and not pa.types.is_string(schema.field(key).type):
                raise UsageError(f"label {key!r} would replace the {schema.field(key).type} column "
                                 f"{name}.{key}; choose another name")
    return clean


def _labels_per_file(labels: Labels, paths: list[Path]) -> tuple[dict[str, dict[str, str | None]], tuple[str, ...]]:
    """Each file's labels, all with the same keys (None where a file has no such label)."""
    given = {str(p): _check_labels(labels(p) if callable(labels) else labels) for p in paths}
    keys = tuple(dict.fromkeys(k for one in given.values() for k in one))
    return {p: {k: one.get(k) for k in keys} for p, one in given.items()}, keys


def _check_partition_by(partition_by: Sequence[str], labels: Iterable[str]) -> tuple[str, ...]:
    keys = (partition_by,) if isinstance(partition_by, str) else tuple(partition_by)
    allowed = {"date", *ENVELOPE_KEYS, *labels}
    for key in keys:
        if key not in allowed:
            raise UsageError(f"cannot partition by {key!r}: choose from date, {', '.join(ENVELOPE_KEYS)} "
                             "or a label name")
    if len(set(keys)) != len(keys):
        raise UsageError(f"partition_by {keys!r} names a column twice")
    return keys


def _dataset_root(dataset_dir: str | os.PathLike[str]) -> Path:
    root = Path(dataset_dir)
    if root.exists() and not root.is_dir():
        raise OutputError(f"{root}: exists and is not a directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{root}: cannot create the dataset directory ({exc.strerror})") from None
    return root


def _file_paths(files: SourceLike | Sequence[SourceLike]) -> list[Path]:
    items: list[SourceLike] = list(files) if isinstance(files, list | tuple) else [files]  # type: ignore[list-item]
    sources = expand(items)
    for src in sources:
        if src.path is None or src.name == "-":
            raise UsageError(f"{src.name}: ingest reads files (it records their size and fingerprint); "
                             "for streams use parse_lines or read_trace")
        if not src.path.is_file():
            why = "is a directory, not a log file" if src.path.is_dir() else "no such file"
            raise InputError(f"{src.name}: {why}")
    return [Path(os.path.abspath(src.path)) for src in sources if src.path is not None]


def _layout(manifest: pa.Table) -> tuple[str, ...] | None:
    meta = manifest.schema.metadata or {}
    raw = meta.get(b"gclens.partition_by")
    return None if raw is None else tuple(json.loads(raw))


def _check_layout(manifest: pa.Table, keys: tuple[str, ...]) -> None:
    meta = manifest.schema.metadata or {}
    version = meta.get(b"gclens.schema_version", SCHEMA_VERSION.encode()).decode()
    if version != SCHEMA_VERSION:
        raise UsageError(f"the dataset was written with schema version {version}; this gclens writes "
                         f"{SCHEMA_VERSION}: ingest into a new directory")
    existing = _layout(manifest)
    if existing is not None and existing != keys:
        raise UsageError(f"the dataset is partitioned by {', '.join(existing)}; partition_by "
                         f"{', '.join(keys)} would mix two layouts")


def _result(ingest_id: str, root: Path, done: list[Done], skipped: list[str], parts: Iterable[Path]) -> IngestResult:
    rows: Counter[str] = Counter()
    for d in done:
        rows.update(d.rows)
    read = [d for d in done if d.error is None]
    return IngestResult(
        ingest_id, root, new=tuple(d.manifest["path"] for d in read if not d.resumed),
        resumed=tuple(d.manifest["path"] for d in read if d.resumed), skipped=tuple(skipped),
        failed=tuple((d.manifest["path"], d.error) for d in done if d.error is not None),
        lines=sum(d.manifest["lines"] for d in read), bytes=sum(d.manifest["bytes"] for d in read),
        rows={name: rows[name] for name in TABLE_NAMES}, parts=tuple(parts),
    )
