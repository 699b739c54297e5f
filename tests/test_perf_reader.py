"""gclens.perf: real perf script outputs (tests/perf_examples, perf 6.1) read into the perf_samples columns.

Expected values come from the files themselves, counted here by simpler means than the parser uses,
or from a second rendering of the same recording (µs vs ns, map-relative vs absolute addresses,
text vs the JSON Lines export).
"""

from __future__ import annotations

import ast
import gzip
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import gclens
from gclens import InputError, UsageError
from gclens.context.perf import EXPORT_SCRIPT, ExecEvent, PerfCapture, read_perf
from gclens.store.schemas import PERF_SAMPLES

EXAMPLES = Path(__file__).resolve().parent / "perf_examples"
PERFMINI_TEXT = EXAMPLES / "perfmini.txt.gz"
PERFMINI_JSONL = EXAMPLES / "perfmini.jsonl.gz"

PERF_SCRIPT_FILES = [
    "01-python-default.txt", "02-python-callchain.txt", "03b-python-F-explicit-fields.txt",
    "03c-systemwide-F-with-cpu.txt", "04-python-reltime-pid.txt", "05-systemwide-a-default.txt",
    "06-mono-header.txt", "07-mono-tod.txt", "09-go-recommended-F-no-comm.txt", "11-go-callchains-gc.txt",
    "12-go-F-fields-no-callchain.txt", "13-go-tod.txt", "14-go-stripped-unknown.txt", "16-go-task-events.txt",
    "17-go-srcline.txt", "21-perf-script-python-jsonl.txt", "22-go-uprobes-gc-boundaries.txt",
    "dd-default-clock-header.txt",
]
# perf's own error messages (03a, 08) and files that are no perf script output at all: InputError, by design.
NOT_PERF_FILES = [
    "03a-F-cpu-not-recorded-error.txt", "08-default-clock-tod-error.txt", "10-go-gctrace-stderr.txt",
    "15-go-folded-stackcollapse.txt", "18-alignment-experiments.txt", "19-clock-offset-measurements.txt",
    "20-go-gctrace-interleaved-with-app-stderr.txt",
]


def read(name: str, **kw: Any) -> PerfCapture:
    return read_perf(EXAMPLES / name, **kw)


def rows(capture: PerfCapture) -> list[dict[str, Any]]:
    return capture.samples.to_pylist()


def by_time(capture: PerfCapture) -> dict[int, dict[str, Any]]:
    return {r["time_ns"]: r for r in rows(capture)}


def header_lines(text: str) -> list[str]:
    """Sample header lines, found the way a person would grep for them: a `secs.frac:` token, not a frame."""
    return [line for line in text.splitlines()
            if not line.startswith(("#", "\t")) and re.search(r"\s\d+\.\d{6,9}:(\s|$)", " " + line)
            and "PERF_RECORD_" not in line]


def test_examples_are_all_classified() -> None:
    listed = set(PERF_SCRIPT_FILES) | set(NOT_PERF_FILES)
    assert {p.name for p in EXAMPLES.glob("*.txt")} - {"perfmini.gctrace.txt", "perfmini.versions.txt"} == listed


@pytest.mark.parametrize("name", PERF_SCRIPT_FILES)
def test_every_perf_example_parses_without_rejects(name: str) -> None:
    capture = read(name)
    text = (EXAMPLES / name).read_text()
    expected = text.count('"time_ns"') if name.startswith("21-") else len(header_lines(text))
    assert capture.rejects == []
    assert capture.samples.num_rows == expected
    assert capture.lines_read == len(text.splitlines())
    assert capture.samples["sample_no"].to_pylist() == list(range(expected))
    assert set(capture.samples["perf_source"].to_pylist()) <= {str(EXAMPLES / name)}


@pytest.mark.parametrize("name", NOT_PERF_FILES)
def test_error_messages_and_other_logs_are_an_input_error(name: str) -> None:
    lines = (EXAMPLES / name).read_text().splitlines()
    first = next(i for i, line in enumerate(lines, 1) if line.strip() and not line.startswith("#"))
    with pytest.raises(InputError, match=rf":{first}: no perf sample found") as err:
        read(name)
    assert lines[first - 1][:50] in str(err.value)


def test_perf_error_message_is_quoted_to_the_user() -> None:
    with pytest.raises(InputError, match=r"08-default-clock-tod-error.txt:1: .*Please record with -k/--clockid"):
        read("08-default-clock-tod-error.txt")


def test_schema_is_the_first_twelve_perf_samples_fields() -> None:
    expected = list(PERF_SAMPLES)[:12]
    for table in (read("01-python-default.txt").samples, read_perf(io.BytesIO(b"")).samples):
        assert table.schema.names == [f.name for f in expected]
        assert [f.type for f in table.schema] == [f.type for f in expected]
        assert table.schema.names == ["perf_source", "sample_no", "time_ns", "pid", "tid", "cpu", "comm",
                                      "event", "period", "sym", "dso", "stack"]


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"# ========\n# captured on    : Fri Nov 27 03:07:09 2026\n"])
def test_empty_input_is_an_empty_table(data: bytes) -> None:
    capture = read_perf(io.BytesIO(data), name="empty")
    assert capture.samples.num_rows == 0
    assert capture.rejects == []
    assert capture.exec_events == []
    assert capture.samples.schema.names == [f.name for f in list(PERF_SAMPLES)[:12]]


# --- header fields ---------------------------------------------------------------------------------------------


def test_right_aligned_comm_and_tid_only() -> None:
    lines = (EXAMPLES / "01-python-default.txt").read_text().splitlines()
    got = rows(read("01-python-default.txt"))
    assert [r["comm"] for r in got] == [line[:16].strip() for line in lines]  # %16s, right-aligned
    assert [r["tid"] for r in got] == [int(line[16:].split()[0]) for line in lines]
    assert "pyenv-version-n" in {r["comm"] for r in got}  # comm is truncated to 15 characters by the kernel
    assert {r["pid"] for r in got} == {None}  # perf printed no pid
    assert {r["cpu"] for r in got} == {None}
    assert {(r["event"], r["period"]) for r in got} == {("cpu-clock", 1001001)}


def test_pid_slash_tid_and_cpu() -> None:
    first = rows(read("03b-python-F-explicit-fields.txt"))[0]
    assert (first["pid"], first["tid"], first["time_ns"]) == (16930, 16930, 422356674964)
    sysw = rows(read("03c-systemwide-F-with-cpu.txt"))
    swapper = next(r for r in sysw if r["comm"] == "swapper")
    assert (swapper["pid"], swapper["tid"], swapper["cpu"]) == (0, 0, 0)
    assert [r["cpu"] for r in sysw] == [int(m) for m in re.findall(r"\[(\d{3})\]", (EXAMPLES / "03c-systemwide"
                                                                                    "-F-with-cpu.txt").read_text())]
    assert {r["cpu"] for r in rows(read("05-systemwide-a-default.txt"))} == {0, 1}


def test_no_comm_with_pid_tid_first() -> None:
    got = rows(read("09-go-recommended-F-no-comm.txt"))
    assert {r["comm"] for r in got} == {None}
    assert [(r["pid"], r["tid"]) for r in got] == [(10234, 10234), (10234, 10251), (10234, 10251),
                                                   (10234, 10252), (10234, 10252), (10234, 10253)]


def test_comm_with_spaces_in_both_layouts() -> None:
    one_line = (EXAMPLES / "01-python-default.txt").read_text().splitlines()[0].replace("         python3",
                                                                                         "  my worker 2 x")
    callchain = (EXAMPLES / "11-go-callchains-gc.txt").read_text().split("\n\n")[0].replace("gcdemo 10234",
                                                                                           "gc demo 7 10234")
    got = rows(read_perf(io.StringIO(one_line + "\n\n" + callchain + "\n")))
    assert [(r["comm"], r["tid"]) for r in got] == [("my worker 2 x", 16930), ("gc demo 7", 10234)]


def test_ns_and_us_times_are_exact_integers() -> None:
    us = [r["time_ns"] for r in rows(read("01-python-default.txt"))]
    ns = [r["time_ns"] for r in rows(read("03b-python-F-explicit-fields.txt"))]
    assert us[0] == 422_356_674_000 and ns[0] == 422_356_674_964
    assert us[:len(ns)] == [t // 1000 * 1000 for t in ns]  # perf truncates to µs, it does not round
    sysw_us = [r["time_ns"] for r in rows(read("05-systemwide-a-default.txt"))]
    sysw_ns = [r["time_ns"] for r in rows(read("03c-systemwide-F-with-cpu.txt"))]
    assert sysw_us[:len(sysw_ns)] == [t // 1000 * 1000 for t in sysw_ns]


def test_reltime_starts_at_zero() -> None:
    got = rows(read("04-python-reltime-pid.txt"))
    absolute = [r["time_ns"] for r in rows(read("03b-python-F-explicit-fields.txt"))]  # same recording, --ns
    assert got[0]["time_ns"] == 0
    assert [r["time_ns"] for r in got] == [(t - absolute[0]) // 1000 * 1000 for t in absolute[:len(got)]]


def test_tod_column_before_the_time() -> None:
    tod = rows(read("07-mono-tod.txt"))
    plain = rows(read("06-mono-header.txt"))
    assert [r["time_ns"] // 1000 for r in tod] == [r["time_ns"] // 1000 for r in plain[:len(tod)]]
    assert [(r["comm"], r["tid"], r["sym"]) for r in tod] == [(r["comm"], r["tid"], r["sym"]) for r in plain[:len(tod)]]
    assert {r["period"] for r in tod} == {None}  # -F without period


def test_tod_agrees_with_the_reference_time() -> None:
    """perf computes tod = TOD_ref + (t - clock_ref); the parsed reference reproduces file 07's printed ns."""
    tod_ref, mono_ref = read("06-mono-header.txt").reference or (0, 0)
    lines = (EXAMPLES / "07-mono-tod.txt").read_text().splitlines()
    for line in lines:
        m = re.search(r"\d\d:\d\d:\d\d\.(\d{9})\s+(\d+)\.(\d{9}):", line)
        assert m is not None
        t_ns = int(m[2]) * 10**9 + int(m[3])
        assert (tod_ref + t_ns - mono_ref) % 10**9 == int(m[1])
    assert len(lines) == 20


def test_events_with_colons_and_no_ip() -> None:
    got = rows(read("22-go-uprobes-gc-boundaries.txt"))
    assert {r["event"] for r in got} == {"probe_gcdemo:gcstart", "probe_gcdemo:markterm"}
    text = (EXAMPLES / "22-go-uprobes-gc-boundaries.txt").read_text()
    assert [r["event"] for r in got].count("probe_gcdemo:markterm") == text.count(" probe_gcdemo:markterm: ")
    assert {(r["sym"], r["dso"], tuple(r["stack"])) for r in got} == {(None, None, ())}


def test_no_event_and_no_dso() -> None:
    got = rows(read("13-go-tod.txt"))
    assert {r["event"] for r in got} == {None}
    assert {r["dso"] for r in got} == {None}
    assert got[6]["sym"] == "runtime.(*spanSet).reset"
    assert got[2]["sym"] == "main.churn"  # ip 490460 is all digits: not mistaken for a period
    assert {r["period"] for r in got} == {None}


# --- clocks ----------------------------------------------------------------------------------------------------


def test_clock_from_header() -> None:
    mono = read("06-mono-header.txt")
    assert mono.clock == "monotonic"
    assert mono.reference == (1_795_748_828_862_789_000, 241_194_775_261)
    assert read("13-go-tod.txt").reference == (1_795_748_883_622_627_000, 295_954_612_945)
    default = read("dd-default-clock-header.txt")
    assert default.clock == "perf_local"  # a header without clockid: perf's local_clock
    assert default.reference is None
    assert read("01-python-default.txt").clock == "unknown"  # no header at all
    assert read("22-go-uprobes-gc-boundaries.txt").clock == "unknown"  # '# cmds:' comments are no perf header


def test_clock_override() -> None:
    assert read("01-python-default.txt", clock="monotonic").clock == "monotonic"
    assert read("06-mono-header.txt", clock="perf_local").clock == "perf_local"
    with pytest.raises(UsageError, match="unknown perf clock"):
        read("01-python-default.txt", clock="wallclock")


def test_clock_from_event_attr_when_clock_data_is_missing() -> None:
    """Older perf with -k stores the clock id only in the event attribute line."""
    lines = [line for line in (EXAMPLES / "06-mono-header.txt").read_text().splitlines()
             if not line.startswith(("# clockid", "# reference time"))]
    capture = read_perf(io.StringIO("\n".join(lines) + "\n"))
    assert capture.clock == "monotonic"
    assert capture.reference is None


# --- task events -----------------------------------------------------------------------------------------------


def test_exec_events() -> None:
    capture = read("16-go-task-events.txt")
    assert capture.exec_events == [ExecEvent(pid=10234, tid=10234, comm="gcdemo", time_ns=295_998_292_329)]
    assert capture.samples.num_rows == 0


def test_exec_at_time_zero_is_no_anchor() -> None:
    text = ("perf-exec     0     0.000000000: PERF_RECORD_COMM exec: gcdemo:77/77\n"
            "gcdemo 88   12.000000001: PERF_RECORD_COMM exec: my app:1:88/88\n")
    assert read_perf(io.StringIO(text)).exec_events == [ExecEvent(88, 88, "my app:1", 12_000_000_001)]


def test_task_events_fill_missing_pids() -> None:
    """Default fields print only the tid; the FORK records of --show-task-events tie threads to the process."""
    capture = read_perf(PERFMINI_TEXT)
    text = gzip.decompress(PERFMINI_TEXT.read_bytes()).decode()
    assert not re.search(r"^\S+ \d+/\d+ ", text, re.M)  # no pid/tid column in this rendering
    pid = capture.exec_events[0].pid
    assert set(capture.samples["pid"].to_pylist()) == {pid}
    forks = set(map(int, re.findall(r"PERF_RECORD_FORK\(\d+:(\d+)\)", text))) | {pid}
    assert set(capture.samples["tid"].to_pylist()) <= forks


# --- frames and symbols ----------------------------------------------------------------------------------------


def test_callchain_stacks_leaf_first_without_offsets_and_abi0() -> None:
    got = rows(read("11-go-callchains-gc.txt"))
    first = got[0]
    assert first["stack"] == ["runtime.funcMaxSPDelta", "runtime.init.5", "runtime.doInit", "runtime.main",
                              "runtime.goexit"]
    assert (first["sym"], first["dso"]) == ("runtime.funcMaxSPDelta", "/srv/gcl/gcdemo/gcdemo")
    frames = [f for r in got for f in r["stack"]]
    assert not [f for f in frames if f.endswith((".abi0", ".abiinternal")) or re.search(r"\+0x[0-9a-f]+$", f)]
    assert "runtime.(*sweepLocked).sweep" in frames and "runtime.(*scavengerState).park" in frames
    text = (EXAMPLES / "11-go-callchains-gc.txt").read_text()
    assert len(frames) == len(re.findall(r"^\t", text, re.M))


def test_kernel_frames_and_leaf_dso() -> None:
    got = by_time(read("11-go-callchains-gc.txt"))[296_003_593_277]
    assert got["stack"][:2] == ["finish_task_switch.isra.0", "__schedule"]
    assert got["dso"] == "[kernel.kallsyms]"
    assert got["stack"][-2:] == ["[unknown]", "[unknown]"]


def test_unknown_frames_of_a_stripped_binary() -> None:
    got = rows(read("14-go-stripped-unknown.txt"))
    assert got[1]["stack"] == ["[unknown]"] * 10
    assert (got[1]["sym"], got[1]["dso"]) == ("[unknown]", "/srv/gcl/gcdemo/gcdemo-stripped")
    assert got[0]["stack"][:2] == ["irqentry_exit_to_user_mode", "asm_sysvec_apic_timer_interrupt"]


def test_unknown_frames_without_dso() -> None:
    got = rows(read("02-python-callchain.txt"))
    assert got[2]["stack"] == ["PyObject_IS_GC@plt", "[unknown]"]
    assert got[2]["dso"] == "/opt/pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"


def test_map_relative_and_absolute_addresses_give_the_same_stacks() -> None:
    """File 09/11/17 print map-relative callchain addresses, file 21 (export) absolute IPs: same samples."""
    exported = by_time(read("21-perf-script-python-jsonl.txt"))
    compared = 0
    for name in ("09-go-recommended-F-no-comm.txt", "11-go-callchains-gc.txt"):
        for t, r in by_time(read(name)).items():
            if t in exported:
                assert (r["stack"], r["sym"], r["dso"]) == (exported[t]["stack"], exported[t]["sym"],
                                                            exported[t]["dso"])
                compared += 1
    assert compared == 7


def test_srcline_continuation_lines_are_skipped() -> None:
    srcline = rows(read("17-go-srcline.txt"))
    exported = by_time(read("21-perf-script-python-jsonl.txt"))
    assert [r["time_ns"] in exported for r in srcline] == [True, True, True]
    for r in srcline[:2]:
        assert r["stack"] == exported[r["time_ns"]]["stack"]
    last = srcline[2]["stack"]  # cut by `sed -n 1,60p` inside its callchain
    assert last == exported[srcline[2]["time_ns"]]["stack"][:len(last)]
    assert {r["dso"] for r in srcline} == {None}


def test_one_line_form_with_absolute_ip() -> None:
    got = rows(read("12-go-F-fields-no-callchain.txt"))
    assert got[0]["stack"] == ["main.churn"]
    assert (got[0]["sym"], got[0]["dso"], got[0]["pid"], got[0]["tid"]) == ("main.churn", "/srv/gcl/gcdemo/gcdemo",
                                                                             10234, 10252)
    assert {r["period"] for r in got} == {500250}


def test_awkward_symbols_and_dsos() -> None:
    """Names with spaces, brackets and parentheses; dsos with spaces and a nested '(deleted)'; inlined frames."""
    sample = "\n".join([
        "app 42   1.000000001:     500250 cpu-clock: ",
        "\t          4904b7 main.Map[go.shape.struct { X int }] (inlined)",
        "\t          4904b7 main.(*T[go.shape.int]).Run+0x117 (/opt/my app/bin (v2)/app (deleted))",
        "\t            5d961 operator()(int) const+0x1 (/usr/lib/libx.so)",
        "\t ffffffffc0a1b2c3 nf_hook_slow+0x3 ([nf_tables])",
        "",
        "app 42   1.000000002:     500250 cpu-clock:            4904b7 foo (bar) baz+0x2 (/tmp/x (deleted))",
        "  foo.go:12",
        "",
    ])
    got = rows(read_perf(io.StringIO(sample)))
    assert got[0]["stack"] == ["main.Map[go.shape.struct { X int }]", "main.(*T[go.shape.int]).Run",
                               "operator()(int) const", "nf_hook_slow"]
    assert got[0]["sym"] == "main.Map[go.shape.struct { X int }]"
    assert got[0]["dso"] == "/opt/my app/bin (v2)/app (deleted)"  # the inlined leaf lives in its caller's dso
    assert (got[1]["sym"], got[1]["dso"]) == ("foo (bar) baz", "/tmp/x (deleted)")


def test_misc_flags_and_round_records() -> None:
    """``-F +misc`` puts K/U flags after the tid; ``--show-round-events`` prints bare PERF_RECORD_FINISHED_ROUND."""
    text = (EXAMPLES / "11-go-callchains-gc.txt").read_text()
    text = text.replace("gcdemo 10234   ", "gcdemo 10234 U      ").replace("\n\n", "\n\nPERF_RECORD_FINISHED_ROUND\n")
    capture = read_perf(io.StringIO(text))
    assert capture.rejects == []
    assert rows(capture) == rows(read_perf(EXAMPLES / "11-go-callchains-gc.txt", name="<stream>"))


def test_repeated_names_are_shared_strings() -> None:
    capture = read_perf(PERFMINI_TEXT)
    stacks = capture.samples["stack"].to_pylist()
    assert len({tuple(s) for s in stacks}) < len(stacks)  # real stacks repeat; the reader interns them


# --- text vs JSON Lines export ---------------------------------------------------------------------------------


def test_text_and_jsonl_export_of_one_recording_agree() -> None:
    text, jsonl = read_perf(PERFMINI_TEXT), read_perf(PERFMINI_JSONL)
    raw = gzip.decompress(PERFMINI_TEXT.read_bytes()).decode()
    assert text.samples.num_rows == len(header_lines(raw)) == raw.count(" cpu-clock: \n") > 300
    assert jsonl.samples.num_rows == gzip.decompress(PERFMINI_JSONL.read_bytes()).decode().count('"time_ns"') - 1
    columns = ["time_ns", "pid", "tid", "cpu", "comm", "event", "period", "sym", "dso", "stack"]
    assert text.samples.select(columns).to_pylist() == jsonl.samples.select(columns).to_pylist()
    assert text.exec_events == jsonl.exec_events and len(text.exec_events) == 1
    assert text.clock == jsonl.clock == "monotonic"
    assert text.reference == jsonl.reference is not None
    assert text.rejects == jsonl.rejects == []
    stacks = [f for s in text.samples["stack"].to_pylist() for f in s]
    assert any(f.startswith("runtime.gcBgMarkWorker") for f in stacks)
    assert "runtime.systemstack" in stacks and "runtime.systemstack.abi0" not in stacks


def test_exec_precedes_the_samples_of_its_process() -> None:
    capture = read_perf(PERFMINI_JSONL)
    (exec_event,) = capture.exec_events
    assert exec_event.comm == "perfmini"
    assert exec_event.time_ns < min(capture.samples["time_ns"].to_pylist())


def test_export_script_is_shipped_and_stdlib_only() -> None:
    script = Path(EXPORT_SCRIPT)
    assert script.is_file() and script.is_relative_to(Path(gclens.__file__).parent)  # inside the package
    tree = ast.parse(script.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= set(sys.stdlib_module_names)
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"trace_begin", "trace_end", "sample_table", "comm_table", "call_path_table"} <= names


def _perf_usable() -> bool:
    if shutil.which("perf") is None or os.environ.get("GCLENS_SKIP_PERF"):
        return False
    probe = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-o", "/dev/null", "--", "true"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _perf_usable(), reason="needs perf with permission to record")
def test_live_recording_text_and_export_agree(tmp_path: Path) -> None:
    data = tmp_path / "perf.data"
    subprocess.run(["perf", "record", "-q", "-k", "mono", "-g", "-e", "cpu-clock", "-F", "999", "-o", str(data),
                    "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=64k", "count=20000"],
                   check=True, capture_output=True, timeout=60)
    text = subprocess.run(["perf", "script", "-i", str(data), "--ns", "--show-task-events", "--header"],
                          check=True, capture_output=True, timeout=60).stdout
    export = subprocess.run(["perf", "script", "-i", str(data), "-s", EXPORT_SCRIPT],
                            capture_output=True, timeout=60)
    if export.returncode != 0 and b"Python scripting not supported" in export.stderr:
        pytest.skip("perf without libpython")
    a, b = read_perf(io.BytesIO(text)), read_perf(io.BytesIO(export.stdout))
    assert a.samples.num_rows > 0 and a.rejects == b.rejects == []
    columns = ["time_ns", "pid", "tid", "comm", "period", "sym", "dso", "stack"]
    assert a.samples.select(columns).to_pylist() == b.samples.select(columns).to_pylist()
    assert a.exec_events == b.exec_events and a.exec_events[0].comm == "dd"
    assert a.clock == b.clock == "monotonic"


# --- inputs: compression, streams, damage ---------------------------------------------------------------------


def test_gzip_zstd_and_plain_give_the_same_table(tmp_path: Path) -> None:
    import zstandard

    raw = gzip.decompress(PERFMINI_TEXT.read_bytes())
    plain, zst = tmp_path / "p.txt", tmp_path / "p.txt.zst"
    plain.write_bytes(raw)
    zst.write_bytes(zstandard.ZstdCompressor().compress(raw))
    expected = read_perf(PERFMINI_TEXT).samples.drop(["perf_source"])
    for path in (plain, zst):
        assert read_perf(path).samples.drop(["perf_source"]).equals(expected)


def test_streams_and_names() -> None:
    raw = (EXAMPLES / "11-go-callchains-gc.txt").read_bytes()
    from_bytes = read_perf(io.BytesIO(raw), name="eleven")
    from_text = read_perf(io.StringIO(raw.decode()))
    assert from_bytes.name == "eleven" and set(from_bytes.samples["perf_source"].to_pylist()) == {"eleven"}
    assert from_bytes.samples.drop(["perf_source"]).equals(from_text.samples.drop(["perf_source"]))
    assert read("11-go-callchains-gc.txt").name == str(EXAMPLES / "11-go-callchains-gc.txt")


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_perf(tmp_path / "absent.txt")


def test_binary_perf_data_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"binary perf\.data"):
        read_perf(io.BytesIO(b"PERFILE2\x68\x00\x00\x00\x00\x00\x00\x00" + bytes(range(256))))


def test_truncated_text_rejects_the_partial_last_line() -> None:
    raw = (EXAMPLES / "11-go-callchains-gc.txt").read_bytes()
    cut = raw[:raw.index(b"runtime.gcDrain+0x1d4") + 11]  # inside a frame line: "runtime.gcD"
    capture = read_perf(io.BytesIO(cut))
    n_lines = cut.count(b"\n") + 1
    assert [(r.line_no, r.reason) for r in capture.rejects] == [
        (n_lines, "last line has no newline: the input looks truncated")]
    assert capture.samples.num_rows == len(header_lines(cut.decode()))
    assert "runtime.gcD" not in capture.samples["stack"].to_pylist()[-1]


def test_truncated_gzip_is_an_input_error() -> None:
    data = PERFMINI_TEXT.read_bytes()
    with pytest.raises(InputError, match="truncated"):
        read_perf(io.BytesIO(data[:len(data) // 2]))


def test_garbage_and_invalid_utf8_lines_are_rejected_with_line_numbers() -> None:
    lines = (EXAMPLES / "11-go-callchains-gc.txt").read_bytes().split(b"\n")
    lines.insert(3, b"\t   zzzz not a frame (x)")
    lines.insert(8, b"\t        5f21d runtime.usl\xffeep.abi0+0x3d (/srv/gcl/gcdemo/gcdemo)")
    lines.insert(0, b"Warning: 3 samples lost")
    capture = read_perf(io.BytesIO(b"\n".join(lines)))
    assert [(r.line_no, r.reason) for r in capture.rejects] == [
        (1, "not a perf sample, callchain frame, task event or header line"),
        (5, "callchain frame without a hex address"),
        (10, "invalid UTF-8 at byte 27"),
    ]
    assert capture.rejects[2].text.startswith("\t        5f21d runtime.usl\ufffdeep")
    assert capture.samples.num_rows == read("11-go-callchains-gc.txt").samples.num_rows


def test_frames_without_a_header_are_rejected() -> None:
    text = "\t            b4e0 runtime.mallocgc (/srv/gcl/gcdemo/gcdemo)\n"
    with pytest.raises(InputError, match=r":1: no perf sample found.*header line is missing"):
        read_perf(io.StringIO(text))


def test_garbage_jsonl_lines_are_rejected() -> None:
    lines = (EXAMPLES / "21-perf-script-python-jsonl.txt").read_text().splitlines()
    damaged = [lines[0], '{"ev": "cpu-clock", "time_ns": "12"}', "[1, 2]", lines[1][:40], '{"x": 1}',
               '{"time_ns": 5, "tid": 1, "stack": [["\\udc80", "x"]]}', *lines[2:]]
    capture = read_perf(io.StringIO("\n".join(damaged) + "\n"))
    assert [(r.line_no, r.reason.split(" (")[0].split(":")[0]) for r in capture.rejects] == [
        (2, "time_ns is not a 64-bit integer"), (3, "JSON value is not an object"), (4, "invalid JSON"),
        (5, "JSON object is neither a sample, an exec record nor the export header"),
        (6, "string is not valid Unicode"),
    ]
    assert capture.samples.num_rows == len(lines) - 1  # lines[1] was cut


def test_pure_garbage_gives_up_early() -> None:
    garbage = b"".join(b"noise %d \xff\xfe\n" % i for i in range(5000))
    with pytest.raises(InputError, match=r":1: no perf sample found.*invalid UTF-8"):
        read_perf(io.BytesIO(garbage))


def test_over_long_line_is_rejected() -> None:
    text = "x" * (1 << 21) + "\n" + (EXAMPLES / "01-python-default.txt").read_text()
    capture = read_perf(io.StringIO(text))
    assert [(r.line_no, r.reason) for r in capture.rejects] == [(1, "line of 2,097,152 bytes is too long to parse")]
    assert len(capture.rejects[0].text) < 400
    assert capture.samples.num_rows == 40
