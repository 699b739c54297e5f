"""Snapshots of this machine and of copied /proc and /sys trees, read into the settings table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gclens import InputError
from gclens.context.settings import parse_bytes, read_settings, settings_changes, settings_wide, sysctl_text_rows
from gclens.context.snapshot import capture, dumps, proc_sys_key

DATA = Path(__file__).parent / "data" / "sysctl"


@pytest.fixture(scope="module")
def sleeper() -> subprocess.Popen[bytes]:
    env = {"PATH": os.environ["PATH"], "GOGC": "77", "GOMEMLIMIT": "64MiB", "API_TOKEN": "secret"}
    proc = subprocess.Popen(["sleep", "60"], env=env)
    yield proc  # type: ignore[misc]
    proc.kill()
    proc.wait()


def test_capture_of_a_live_process_matches_proc(sleeper: subprocess.Popen[bytes]) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    snap = capture(sleeper.pid)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    assert before <= snap["captured"]["monotonic_ns"] <= snap["captured_end"]["monotonic_ns"] <= after
    assert snap["sysctl"]["vm.swappiness"] == Path("/proc/sys/vm/swappiness").read_text().strip()
    assert snap["sysctl"]["kernel.pid_max"] == Path("/proc/sys/kernel/pid_max").read_text().strip()
    assert snap["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert snap["env"] == {"GOGC": "77", "GOMEMLIMIT": "64MiB"}  # GO* only: the token stays private
    assert snap["process"]["comm"] == "sleep"
    assert snap["process"]["start_boottime_ns"] <= snap["captured"]["boottime_ns"]
    assert "Max open files" in snap["limits"]
    assert snap["thp"]["enabled"] == Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    assert snap["cgroup"]["version"] in {"v1", "v2", "hybrid"}


def test_capture_of_a_missing_process_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no process with pid"):
        capture(2**22 + 12345)


def test_cli_every_writes_one_complete_line_per_capture(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    out = tmp_path / "snaps.jsonl"
    run = subprocess.run([sys.executable, "-m", "gclens", "snapshot", "--pid", str(sleeper.pid), "--every", "0.1",
                          "--count", "3", "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    monos = [d["captured"]["monotonic_ns"] for d in docs]
    assert len(docs) == 3 and monos == sorted(monos) and monos[2] - monos[0] >= 0.2e9
    settings = read_settings(out)
    assert settings["snapshot_id"].n_unique() == 3
    assert settings.filter(pl.col("key") == "GOGC")["value"].to_list() == ["77"] * 3


def test_cli_every_stops_when_the_process_exits(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "3"])  # outlives the snapshot command's start even on a loaded machine
    out = tmp_path / "snaps.jsonl"
    run = subprocess.run([sys.executable, "-m", "gclens", "snapshot", "--pid", str(proc.pid), "--every", "0.1",
                          "-o", str(out)], capture_output=True, text=True, timeout=60)
    proc.wait()
    assert run.returncode == 0, run.stderr
    assert 1 <= len(out.read_text().splitlines()) <= 40


def test_cli_missing_pid_exits_2_with_one_line() -> None:
    run = subprocess.run([sys.executable, "-m", "gclens", "snapshot", "--pid", str(2**22 + 7)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.startswith("gclens: error: no process with pid") and "Traceback" not in run.stderr


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


_PROC = {"proc/sys/kernel/random/boot_id": "b-1\n", "proc/sys/kernel/osrelease": "6.18.0\n",
         "proc/sys/kernel/hostname": "node-a\n", "proc/sys/vm/swappiness": "60\n",
         "proc/sys/net/ipv4/tcp_rmem": "4096\t131072\t6291456\n",
         "proc/sys/net/ipv4/conf/eth9.100/forwarding": "0\n",
         "proc/42/stat": "42 (my svc) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 7 0 12345 0 0\n",
         "proc/42/environ": "GOGC=50\0HOME=/root\0GODEBUG=gctrace=1\0",
         "proc/42/limits": "Limit                     Soft Limit           Hard Limit           Units     \n"
                           "Max open files            1024                 1048576              files     \n"}


def test_cgroup_v2_layout(tmp_path: Path) -> None:
    root = _tree(tmp_path, {**_PROC, "proc/42/cgroup": "0::/kubepods/pod1\n",
                            "proc/self/mountinfo": "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                            "sys/fs/cgroup/kubepods/pod1/memory.max": "536870912\n",
                            "sys/fs/cgroup/kubepods/pod1/cpu.max": "50000 100000\n",
                            "sys/fs/cgroup/kubepods/pod1/cpu.stat":
                                "usage_usec 10\nnr_throttled 3\nthrottled_usec 900\n",
                            "sys/fs/cgroup/kubepods/pod1/memory.pressure":
                                "some avg10=0.50 avg60=0.10 avg300=0.00 total=1234\n"
                                "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"})
    snap = capture(42, root=root)
    assert snap["cgroup"]["version"] == "v2" and snap["cgroup"]["v2"]["path"] == "/kubepods/pod1"
    assert snap["process"]["comm"] == "my svc"  # comm with a space, inside parentheses
    assert snap["env"] == {"GOGC": "50", "GODEBUG": "gctrace=1"}
    path = tmp_path / "snap.json"
    path.write_text(dumps(snap))
    values = dict(read_settings(path).select("key", "value").iter_rows())
    assert values["memory.max"] == "536870912" and values["cpu.max"] == "50000 100000"
    assert values["cpu.stat.nr_throttled"] == "3" and values["memory.pressure.some.avg10"] == "0.50"
    assert values["net.ipv4.tcp_rmem"] == "4096 131072 6291456"
    assert values["net.ipv4.conf.eth9/100.forwarding"] == "0"
    assert values["limits.max_open_files.soft"] == "1024" and values["limits.max_open_files.hard"] == "1048576"


def test_cgroup_v1_layout(tmp_path: Path) -> None:
    root = _tree(tmp_path, {**_PROC, "proc/42/cgroup": "4:memory:/svc\n1:cpu,cpuacct:/svc\n0::/\n",
                            "proc/self/mountinfo":
                                "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
                                "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
                            "sys/fs/cgroup/memory/svc/memory.limit_in_bytes": "9223372036854771712\n",
                            "sys/fs/cgroup/cpu,cpuacct/svc/cpu.cfs_quota_us": "-1\n",
                            "sys/fs/cgroup/cpu,cpuacct/svc/cpu.cfs_period_us": "100000\n"})
    snap = capture(42, root=root)
    assert snap["cgroup"]["version"] == "v1"
    assert snap["cgroup"]["v1"]["memory"]["files"] == {"memory.limit_in_bytes": "9223372036854771712"}
    assert snap["cgroup"]["v1"]["cpu"]["files"]["cpu.cfs_quota_us"] == "-1"
    assert parse_bytes("9223372036854771712") is None and parse_bytes("max") is None


def test_write_only_files_are_skipped_and_keys_follow_procps(tmp_path: Path) -> None:
    root = _tree(tmp_path, {**_PROC, "proc/sys/vm/drop_caches": ""})
    (root / "proc/sys/vm/drop_caches").chmod(0o200)
    snap = capture(None, root=root)
    assert "vm.drop_caches" not in snap["sysctl"] and "vm.drop_caches" not in snap["sysctl_errors"]
    assert proc_sys_key(Path("net/ipv4/conf/eth9.100/forwarding")) == "net.ipv4.conf.eth9/100.forwarding"


def test_copied_proc_sys_tree_reads_like_a_snapshot(tmp_path: Path) -> None:
    root = _tree(tmp_path, _PROC)
    values = dict(read_settings(root / "proc" / "sys").select("key", "value").iter_rows())
    assert values["vm.swappiness"] == "60" and values["kernel.osrelease"] == "6.18.0"


def test_sysctl_a_text_with_tabs_comments_and_permission_noise() -> None:
    rows = list(sysctl_text_rows((DATA / "01-sysctl-a-selected.decoded.txt").read_text()))
    values = {key: value for _, key, value, _ in rows}
    assert values["kernel.printk"] == "4 4 1 7" and values["net.ipv4.ip_local_port_range"] == "32768 60999"
    noisy = read_settings(DATA / "02-sysctl-a-nonroot-stderr.txt")
    denied = [line for line in (DATA / "02-sysctl-a-nonroot-stderr.txt").read_text().splitlines()
              if "permission denied" in line]
    assert noisy.height == len(denied) == 16
    assert set(noisy["error"]) == {"EACCES"} and noisy["value"].null_count() == 16
    dotted = read_settings(DATA / "04-sysctl-dotted-ifname-and-netns.txt")
    assert "net.ipv4.conf.eth9/100.forwarding" in dotted["key"].to_list()


def test_removed_sched_key_is_recorded_as_absent() -> None:
    first_lines = "\n".join((DATA / "03-sysctl-removed-key.txt").read_text().splitlines()[:2])
    rows = list(sysctl_text_rows(first_lines))
    assert rows == [("sysctl", "kernel.sched_latency_ns", None, "ENOENT")]


def test_not_a_snapshot_is_reported_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("vm.swappiness = 60\nthis is not sysctl output\n")
    with pytest.raises(InputError, match=r"bad.txt:2: not sysctl -a output"):
        read_settings(bad)
    broken = tmp_path / "broken.json"
    broken.write_text('{"gclens_snapshot": 1, "sysctl": {')
    with pytest.raises(InputError, match=r"broken.json:1:\d+: not a gclens snapshot"):
        read_settings(broken)


def test_changes_between_snapshots_ignore_counters(tmp_path: Path) -> None:
    files = {**_PROC, "proc/42/cgroup": "0::/svc\n",
             "proc/self/mountinfo": "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
             "sys/fs/cgroup/svc/cpu.max": "max 100000\n", "sys/fs/cgroup/svc/cpu.stat": "nr_throttled 0\n"}
    root = _tree(tmp_path / "root", files)
    first = capture(42, root=root)
    _tree(root, {"sys/fs/cgroup/svc/cpu.max": "50000 100000\n", "sys/fs/cgroup/svc/cpu.stat": "nr_throttled 9\n"})
    second = capture(42, root=root)
    path = tmp_path / "series.jsonl"
    path.write_text(dumps(first) + dumps(second))
    settings = read_settings(path)
    changes = settings_changes(settings)
    assert changes.select("key", "before", "after").rows() == [("cpu.max", "max 100000", "50000 100000")]
    assert changes["after_mono_ns"][0] == first["captured"]["monotonic_ns"]
    assert changes["changed_by_mono_ns"][0] == second["captured"]["monotonic_ns"]
    with_counters = settings_changes(settings, include_counters=True)
    assert "cpu.stat.nr_throttled" in with_counters["key"].to_list()
    wide = settings_wide(settings, ["cpu.max", "GOGC", "no.such.key"])
    assert wide["cpu.max"].to_list() == ["max 100000", "50000 100000"]
    assert wide["GOGC"].to_list() == ["50", "50"] and wide["no.such.key"].null_count() == 2


def test_a_key_that_appears_is_a_change(tmp_path: Path) -> None:
    base = 1_795_000_000 * 10**9
    first = {"gclens_snapshot": 1, "captured": {"realtime_ns": base, "monotonic_ns": 10}, "hostname": "h",
             "pid": 7, "sysctl": {"vm.swappiness": "60"}, "env": {"GOGC": "100"}}
    second = {**first, "captured": {"realtime_ns": base + 10**9, "monotonic_ns": 20},
              "env": {"GOGC": "100", "GOMEMLIMIT": "1GiB"}}
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    changes = settings_changes(read_settings(path))
    assert changes.select("key", "before", "after").rows() == [("GOMEMLIMIT", "absent", "1GiB")]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12)
_SECTIONS = st.sampled_from(["sysctl", "sysctl_errors", "cgroup", "thp", "env", "limits", "process", "captured",
                             "meminfo", "pressure", "debugfs_sched", "pid", "hostname"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_SECTIONS, _JSON, max_size=6))
def test_malformed_snapshots_are_input_errors_never_tracebacks(tmp_path_factory: pytest.TempPathFactory,
                                                                doc: dict[str, object]) -> None:
    path = tmp_path_factory.mktemp("snap") / "s.json"
    path.write_text(json.dumps({"gclens_snapshot": 1, **doc}))
    try:
        read_settings(path)
    except InputError as exc:
        assert "s.json:1: malformed gclens snapshot" in str(exc)
