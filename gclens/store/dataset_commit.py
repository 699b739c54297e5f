"""How a fleet ingest commits atomically (see ``gclens.dataset``): one ingest at a time per dataset
(a lock file), parts written under ``DIR/.ingest-<id>/``, a commit marker, parts renamed into
place and the manifest replaced last; an interrupted ingest is rolled back or completed by the
next. Kept apart from ``dataset.py`` so that the public module reads as what an ingest does and
this one as how it stays safe.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gclens._errors import InputError, OutputError
from gclens.store.ingest_parse import (
    INGEST_ID_FIELD,
    LINE_COLUMNS,
    Chunk,
    Done,
    Spec,
    dataset_metadata,
    doc_field,
    replace_column,
    with_labels,
)
from gclens.store.schemas import SCHEMA_VERSION, SCHEMAS, TABLE_NAMES, empty_table, storage_schema

__all__ = ["COMMON_METADATA", "MANIFEST", "MANIFEST_SCHEMA", "read_manifest"]

MANIFEST = "_gclens_manifest.parquet"
COMMON_METADATA = "_common_metadata"


_TS = pa.timestamp("ns", tz="UTC")


MANIFEST_SCHEMA = pa.schema([
    doc_field("path", pa.string(), "Absolute path of the source file (the rows' `source`)."),
    doc_field("size", pa.int64(), "File size on disk when ingested, bytes."),
    doc_field("content_bytes", pa.int64(), "Size of its text (decompressed) when ingested, bytes."),
    doc_field("mtime", _TS, "File modification time when ingested."),
    doc_field("head_len", pa.int64(), "Bytes fingerprinted at the start of the text (min(64 KiB, size)), "
               "decompressed."),
    doc_field("head_sha256", pa.string(), "SHA-256 of those bytes."),
    doc_field("fingerprint", pa.string(), "SHA-256 of head_sha256 and content_bytes: the content's identity."),
    doc_field("compression", pa.string(), "none | gzip | zstd."),
    doc_field("offset", pa.int64(), "Decompressed byte offset this ingest started at (0 unless resumed)."),
    doc_field("lines", pa.int64(), "Lines ingested by this ingest."),
    doc_field("bytes", pa.int64(), "Decompressed bytes ingested by this ingest."),
    doc_field("lines_ingested", pa.int64(), "Lines of the file in the dataset after this ingest."),
    doc_field("bytes_ingested", pa.int64(), "Decompressed bytes of the file in the dataset (resume offset)."),
    doc_field("pending_bytes", pa.int64(), "Unterminated last line left for the next ingest, bytes."),
    doc_field("last_run_id", pa.int32(), "run_id of the file's last run so far."),
    doc_field("last_gc_num", pa.int64(), "Last gc number of that run (to tell a continuation from a restart)."),
    doc_field("last_t_s", pa.float64(), "Latest runtime time of that run, seconds."),
    doc_field("rows", pa.int64(), "Rows written by this ingest for the file, all tables."),
    doc_field("ingest_id", pa.string(), "Ingest that read these lines."),
    doc_field("ingested_at", _TS, "When the ingest committed."),
], metadata={"gclens.schema_version": SCHEMA_VERSION})


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One ingest at a time per dataset (fcntl lock, released when the process ends; none without fcntl)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fh = open(root / ".gclens.lock", "a")  # noqa: SIM115 - held for the block's duration
    except OSError as exc:
        raise OutputError(f"{root}: cannot write here ({exc.strerror})") from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _renumbered(table: pa.Table, numbers: list[int] | None) -> pa.Table:
    """Map the pipeline's 1-based line numbers back onto the caller's ``line_no`` values."""
    if numbers is None:
        return table
    lookup = pa.array([None, *numbers], pa.int64())
    for col in LINE_COLUMNS:
        if col in table.column_names:
            table = replace_column(table, col, pc.take(lookup, table.column(col)))
    return table


def _joined(column: pa.ChunkedArray) -> bytes:
    values = column.to_pylist()
    if not values:
        return b""
    raw = [b"" if v is None else v if isinstance(v, bytes) else v.encode("utf-8", "surrogateescape") for v in values]
    text = b"\n".join(raw)
    return text if text.endswith(b"\n") else text + b"\n"


def _make_tmp(root: Path, ingest_id: str) -> Path:
    tmp = root / f".ingest-{ingest_id}"
    try:
        (tmp / "parts").mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f"{root}: cannot write here ({exc.strerror})") from None
    return tmp


def _write_commit(spec: Spec, done: list[Done], chunks: list[Chunk], root: Path) -> None:
    """Everything the commit needs, inside tmp: common schemas, manifest rows, then the marker."""
    for name in TABLE_NAMES:
        schemas = [c.schemas[name] for c in chunks if name in c.schemas]
        old = root / name / COMMON_METADATA
        base = [pq.read_schema(old)] if old.exists() else [_empty_schema(name, spec)]
        if schemas or not old.exists():
            (spec.tmp / "parts" / name).mkdir(parents=True, exist_ok=True)
            pq.write_metadata(pa.unify_schemas(base + schemas), spec.tmp / "parts" / name / COMMON_METADATA)
    now = datetime.now(UTC)
    rows = [{**d.manifest, "ingested_at": now} for d in done if d.error is None]
    meta = {"gclens.schema_version": SCHEMA_VERSION, "gclens.partition_by": json.dumps(list(spec.partition_by))}
    manifest = pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA.with_metadata(meta))
    pq.write_table(manifest, spec.tmp / "manifest.parquet")
    marker = spec.tmp / "COMMIT.tmp"
    marker.write_text(spec.ingest_id)
    os.replace(marker, spec.tmp / "COMMIT")


def _empty_schema(name: str, spec: Spec) -> pa.Schema:
    table = with_labels(empty_table(storage_schema(SCHEMAS[name])), dict.fromkeys(spec.label_keys)).append_column(
        INGEST_ID_FIELD, pa.array([], pa.string()))
    schema = table.drop_columns([k for k in spec.partition_by if k in table.column_names]).schema
    return schema.with_metadata({**(schema.metadata or {}), **dataset_metadata(spec)})


def _roll_forward(root: Path, tmp: Path) -> tuple[Path, ...]:
    """Move the parts into place, then append the manifest rows; safe to repeat after a crash."""
    moved = []
    for path in sorted(p for p in (tmp / "parts").rglob("*") if p.is_file()):
        target = root / path.relative_to(tmp / "parts")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        if target.name != COMMON_METADATA:
            moved.append(target)
    new = pq.read_table(tmp / "manifest.parquet")
    old = read_manifest(root)
    ingest_id = (tmp / "COMMIT").read_text()
    if ingest_id not in old.column("ingest_id").to_pylist():
        merged = pa.concat_tables([old.cast(new.schema) if old.num_rows else new.schema.empty_table(), new])
        staged = root / f".{MANIFEST}.tmp"
        pq.write_table(merged.replace_schema_metadata(new.schema.metadata), staged)
        os.replace(staged, root / MANIFEST)
    shutil.rmtree(tmp)
    return tuple(moved)


def _recover(root: Path) -> None:
    """Finish ingests interrupted after their commit marker; remove the others' leftovers."""
    for tmp in sorted(root.glob(".ingest-*")):
        if (tmp / "COMMIT").exists():
            try:
                _roll_forward(root, tmp)
            except OSError as exc:
                raise OutputError(f"{tmp}: cannot complete an interrupted ingest ({exc})") from None
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def read_manifest(dataset_dir: str | os.PathLike[str]) -> pa.Table:
    """The manifest of a dataset: one row per ingest of each source (empty for a new dataset)."""
    path = Path(dataset_dir) / MANIFEST
    if not path.exists():
        return MANIFEST_SCHEMA.empty_table()
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: cannot read the manifest ({exc})") from None
