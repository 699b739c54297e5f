"""`gclens parse` and `gclens schema` end to end, through a real subprocess."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
import zstandard

import gclens
from conftest import SAMPLES, run
from gclens.store.schemas import storage_schema

SAMPLE = SAMPLES / "go1.21" / "churn-full.stderr"


def test_parse_writes_every_table_as_parquet_with_schema_version(tmp_path: Path) -> None:
    proc = run("parse", str(SAMPLE), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == sorted(f"{name}.parquet" for name in gclens.TABLE_NAMES)
    for name in gclens.TABLE_NAMES:
        table = pq.read_table(tmp_path / "out" / f"{name}.parquet")
        assert table.schema.metadata[b"gclens.schema_version"] == gclens.SCHEMA_VERSION.encode()
        assert table.schema.equals(storage_schema(gclens.SCHEMAS[name]), check_metadata=False)  # µs times
    gc = pl.read_parquet(tmp_path / "out" / "gc.parquet")
    assert gc.height == gclens.read_trace(SAMPLE).gc.height > 0
    assert pl.read_parquet(tmp_path / "out" / "gc_scan.parquet").height == 0  # empty, schema kept
    assert "gc " in proc.stderr and "rows" in proc.stderr


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_parse_text_formats(tmp_path: Path, fmt: str) -> None:
    assert run("parse", str(SAMPLE), "-o", str(tmp_path), "--format", fmt).returncode == 0
    expected = gclens.read_trace(SAMPLE)
    reader = pl.read_csv if fmt == "csv" else pl.read_ndjson
    for name in ("gc", "sched", "pacer"):
        assert reader(tmp_path / f"{name}.{fmt}").height == expected.frame(name).height
    sched = reader(tmp_path / f"sched.{fmt}")
    first = sched["local_runqueues"][0]
    assert first == "0 0" if fmt == "csv" else list(first) == [0, 0]


def test_stdin_glob_and_compressed_inputs_give_the_same_rows(tmp_path: Path) -> None:
    raw = SAMPLE.read_bytes()
    (tmp_path / "a.log.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "b.log.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    plain = gclens.read_trace(SAMPLE).gc.drop("source")
    for source in (tmp_path / "a.log.gz", tmp_path / "b.log.zst"):
        assert gclens.read_trace(source).gc.drop("source").equals(plain)
    both = gclens.read_trace(str(tmp_path / "*.log.*"))
    assert both.sources["compression"].to_list() == ["gzip", "zstd"]
    proc = run("parse", "-", "-o", str(tmp_path / "stdin"), stdin=raw)
    assert proc.returncode == 0
    from_stdin = pl.read_parquet(tmp_path / "stdin" / "gc.parquet")
    assert from_stdin["source"].unique().to_list() == ["-"]
    in_memory = from_stdin.drop("source", "log_ts_ns").with_columns(pl.col(pl.Datetime).dt.cast_time_unit("ns"))
    assert in_memory.equals(plain)


def test_strict_turns_rejects_into_exit_3(tmp_path: Path) -> None:
    log = tmp_path / "torn.log"
    log.write_text(SAMPLE.read_text() + "gc 99 @5.808app: spliced\n")
    assert run("parse", str(log)).returncode == 0
    proc = run("parse", str(log), "--strict")
    assert proc.returncode == 3
    assert "reject x1: expected 's '" in proc.stderr
    assert run("parse", str(SAMPLE), "--strict").returncode == 0


def test_overwrites_an_existing_output_directory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "gc.parquet").write_text("stale")
    assert run("parse", str(SAMPLE), "-o", str(out)).returncode == 0
    assert pl.read_parquet(out / "gc.parquet").height > 0
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary directory left


def test_schema_lists_every_table_with_units() -> None:
    proc = run("schema")
    assert proc.returncode == 0
    for name in gclens.TABLE_NAMES:
        assert f"\n{name}: " in "\n" + proc.stdout
    assert "stw_ms" in proc.stdout and " ms " in proc.stdout
    one = run("schema", "gc")
    assert one.stdout.startswith("gc: ") and "sched:" not in one.stdout


def test_every_command_has_help_with_an_example() -> None:
    for command in ("parse", "check", "summary", "diff", "schema"):
        proc = run(command, "--help")
        assert proc.returncode == 0 and "example:" in proc.stdout


def test_usage_errors_exit_2_with_one_line() -> None:
    proc = run("parse")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    proc = run("parse", str(SAMPLE), "--format", "xml")
    assert proc.returncode == 2


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "gclens"
    proc = subprocess.run([str(script), "parse", str(SAMPLE)], capture_output=True, text=True)
    assert proc.returncode == 0


def test_summary_shows_rejected_lines_with_a_caret(tmp_path: Path) -> None:
    log = tmp_path / "torn.log"
    log.write_text("gc 99 @5.808app: spliced\n")
    proc = run("parse", str(log))
    assert f"{log}:1:13: expected 's ', found 'app: spliced'\n    gc 99 @5.808app: spliced\n" \
           f"                ^\n" in proc.stderr


def test_help_does_not_load_the_heavy_libraries() -> None:
    """Fast start: `gclens --help` must not pay for pyarrow, polars, matplotlib or jinja2."""
    code = ("import sys\nfrom gclens.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pyarrow', 'polars', 'matplotlib', 'jinja2', 'lark') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_parse_loads_only_what_parsing_needs(tmp_path: Path) -> None:
    """Fast start: `gclens parse` of a small log loads no plotting, templating, dataset, pandas,
    progress-bar, live-view, metrics or analysis module (each costs tens of milliseconds of a start
    that takes 0.4 s). ``startswith`` catches their submodules too."""
    log = tmp_path / "small.log"
    log.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:50]))
    heavy = ("matplotlib", "jinja2", "pyarrow.dataset", "pandas", "tqdm", "rich", "prometheus_client",
             "gclens.analysis", "gclens.present.render", "gclens.present.report", "gclens.present.plot",
             "gclens.context.align", "gclens.context.perf", "gclens.context.settings", "gclens.context.snapshot",
             "gclens.store.dataset")
    argv = ["parse", str(log), "-o", str(tmp_path / "out")]
    code = (f"import sys\nfrom gclens.cli import main\ncode = main({argv!r})\n"
            f"print(code, sorted(m for m in sys.modules if m.startswith({heavy!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "0 []", proc.stderr


def test_progress_bar_only_when_asked_or_at_a_terminal(tmp_path: Path) -> None:
    trace = SAMPLES / "go1.25" / "churn-full.stderr"
    quiet = subprocess.run([sys.executable, "-m", "gclens", "parse", str(trace)], capture_output=True, text=True,
                           timeout=120)
    assert quiet.returncode == 0 and "%|" not in quiet.stderr  # a pipeline gets the summary only
    shown = subprocess.run([sys.executable, "-m", "gclens", "parse", str(trace), "--progress"],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "B/s]" in shown.stderr and "%|" in shown.stderr
    assert shown.stderr.rstrip().endswith(quiet.stderr.rstrip().splitlines()[-1])


def test_parser_tables_are_cached_in_the_users_cache_dir_only(tmp_path: Path) -> None:
    import os

    trace = str(SAMPLES / "go1.25" / "churn-full.stderr")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = subprocess.run([sys.executable, "-m", "gclens", "parse", trace], env=env, capture_output=True, timeout=120)
    assert first.returncode == 0
    cache = tmp_path / "cache" / "gclens"
    assert (cache.stat().st_mode & 0o777) == 0o700 and list(cache.glob("*.lark-cache"))
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    env["XDG_CACHE_HOME"] = str(blocked)  # cannot be created: parse still works, uncached
    second = subprocess.run([sys.executable, "-m", "gclens", "parse", trace], env=env, capture_output=True,
                            timeout=120)
    assert second.returncode == 0 and second.stderr == first.stderr


@pytest.mark.parametrize("args", [("summary", str(SAMPLE)), ("parse", str(SAMPLE), "--format", "jsonl", "-o", "-")])
def test_every_output_is_flushed_before_the_command_exits(args: tuple[str, ...]) -> None:
    """The command ends with os._exit (no interpreter teardown): what sits in a block-buffered
    stdout must still come out whole, as with unbuffered output."""
    outputs = []
    for unbuffered in (False, True):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        if unbuffered:
            env["PYTHONUNBUFFERED"] = "1"
        proc = subprocess.run([sys.executable, "-m", "gclens", *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1] and outputs[0].count("\n") > 10
