#!/usr/bin/env python3
"""Record the real perf + gctrace (+ snapshot) captures in this folder.

Builds programs/perfdemo with go1.19 and go1.26 and records, as root:

    <go>-exec-mono/       perf record -k mono -- ./perfdemo        (exec event: anchor)
    <go>-attach-mono/     perf record -k mono -p PID, 0.3 s after start (no exec event)
    <go>-default-clock/   perf record -- ./perfdemo, perf's default clock (+ a fork marker)
    go1.19-cgroup-change/ as exec-mono, in a cgroup whose CPU quota is set mid-run
    go1.19-gogc-change/   two plain runs (GOGC=100; GOGC=50 GOMEMLIMIT=64MiB) with snapshots

Each capture folder holds trace.stderr (the process's raw stderr: gctrace and
gcpacertrace lines), stdout.txt (perfdemo's GCLENS_MARK lines), truth.json
(what the program wrote itself plus a "capture" object from this script),
perf.txt.gz (`perf script --ns --show-task-events --header`, gzip), and where
applicable snapshots.jsonl (`gclens snapshot`) and change.json.  manifest.json
lists every capture with its counts and checks.  See README.md.

Standard library only; needs root (perf, cgroup writes), perf, and the Go
toolchains of ../install_toolchains.sh.

    python3 generate_perf.py                 # everything
    python3 generate_perf.py --only exec-mono --only-go 1.19
    python3 generate_perf.py --check         # recompute the checks of the stored captures
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.dirname(HERE)
PROGRAMS_DIR = os.path.join(SAMPLES, "programs")
REPO = os.path.dirname(SAMPLES)
GOBIN_ROOT = os.environ.get("GOBIN_ROOT", "/opt/gobin")
DEFAULT_TOOLCHAINS = {
    "1.19": "/usr/lib/go-1.19/bin/go",
    "1.26": "1.26.6",
}
GO_ENV = {"GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-mod=mod"}
GODEBUG = "gctrace=1,gcpacertrace=1"
PERF = shutil.which("perf") or "/usr/bin/perf"
PERF_FREQ = "999"
ATTACH_AFTER_S = 0.3       # attach-mono: perf attaches this long after main starts
CHANGE_AFTER_S = 1.5       # cgroup-change: quota set this long after main starts
CGROUP_V1_CPU = "/sys/fs/cgroup/cpu"
CGROUP_NAME = "gclens-demo"
QUOTA_US, PERIOD_US = 50000, 100000
SNAPSHOT_EVERY = "0.5"
FORK_MARKER_AT = "1.2s"    # default-clock: perfdemo fork+execs /bin/true at this time


def clock_mono() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def clock_real() -> int:
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


@dataclass
class Capture:
    name: str
    gos: tuple
    mode: str                  # exec | attach | plain
    clock: str | None = "mono"  # perf -k value, None = perf's default clock
    env: dict = field(default_factory=dict)
    args: tuple = ()
    snapshot: bool = False
    snapshot_every: str | None = None  # None: one snapshot (snapshot.json), else snapshots.jsonl
    cgroup_change: bool = False
    subdir: str | None = None  # for the runs of a pair: folder inside <go>-<group>
    group: str | None = None
    description: str = ""


CAPTURES = [
    Capture("exec-mono", ("1.19", "1.26"), "exec", snapshot=True, snapshot_every="1",
            description="perf record -k mono -- ./perfdemo: PERF_RECORD_COMM exec on "
                        "CLOCK_MONOTONIC; theta = runtime_init_mono_ns (0.5-2.2 ms after exec)"),
    Capture("attach-mono", ("1.19", "1.26"), "attach",
            description=f"perfdemo started normally, perf record -k mono -p PID attached "
                        f"{ATTACH_AFTER_S} s after main started: no exec event, align by offset search"),
    Capture("default-clock", ("1.19", "1.26"), "exec", clock=None,
            args=("-fork-marker-at", FORK_MARKER_AT),
            description="as exec-mono but perf's default clock (local_clock/sched_clock, ms "
                        "off CLOCK_MONOTONIC); perfdemo fork+execs /bin/true between two "
                        "CLOCK_MONOTONIC reads, which measures that offset"),
    Capture("cgroup-change", ("1.19",), "exec", snapshot=True, snapshot_every=SNAPSHOT_EVERY,
            cgroup_change=True,
            description=f"as exec-mono, the process in cgroup v1 cpu:/{CGROUP_NAME} (no quota); "
                        f"{CHANGE_AFTER_S} s after main starts cpu.cfs_quota_us={QUOTA_US} "
                        f"(period {PERIOD_US}): throttled to half a CPU; snapshots every "
                        f"{SNAPSHOT_EVERY} s"),
    Capture("gogc-100", ("1.19",), "plain", env={"GOGC": "100"}, snapshot=True,
            group="gogc-change", subdir="run1-gogc100",
            description="no perf; GOGC=100; one snapshot of the pid just after start"),
    Capture("gogc-50-memlimit", ("1.19",), "plain", env={"GOGC": "50", "GOMEMLIMIT": "64MiB"},
            snapshot=True, group="gogc-change", subdir="run2-gogc50-memlimit",
            description="no perf; GOGC=50 GOMEMLIMIT=64MiB; one snapshot of the pid just after "
                        "start"),
]


def capture_dir(c: Capture, go: str) -> str:
    if c.group:
        return f"go{go}-{c.group}/{c.subdir}"
    return f"go{go}-{c.name}"


# ---------------------------------------------------------------- build
def resolve_go(key: str, overrides: dict) -> str:
    spec = overrides.get(key, DEFAULT_TOOLCHAINS[key])
    if "/" in spec:
        return spec
    return os.path.join(GOBIN_ROOT, spec, "lib/python3.11/site-packages/go/bin/go")


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("GO")}


def go_version(go: str) -> str:
    return subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True,
                          env={**clean_env(), **GO_ENV}, check=True).stdout.strip()


def build(go: str, outdir: str) -> tuple[str, list]:
    ver = go_version(go)
    minor = int(ver.split(".")[1])
    cmd = [go, "build", "-trimpath"]
    if minor >= 23:  # go:linkname to runtime.runtimeInitTime is blocked by the linker
        cmd.append("-ldflags=-checklinkname=0")
    os.makedirs(outdir, exist_ok=True)
    out = os.path.join(outdir, "perfdemo")  # the name is the comm in perf output
    cmd += ["-o", out, "./perfdemo"]
    r = subprocess.run(cmd, cwd=PROGRAMS_DIR, env={**clean_env(), **GO_ENV},
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"build failed: {' '.join(cmd)}\n{r.stderr}")
    shown = ["go", *cmd[1:-3], "-o", "perfdemo", "./perfdemo"]
    return out, shown


# ---------------------------------------------------------------- helpers
def wait_for_marker(path: str, proc: subprocess.Popen, timeout: float = 5.0) -> dict:
    """Wait for perfdemo's 'GCLENS_MARK start pid=N mono_ns=T' line on stdout."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            with open(path) as f:
                for line in f:
                    m = re.match(r"GCLENS_MARK start pid=(\d+) mono_ns=(\d+)", line)
                    if m:
                        return {"pid": int(m[1]), "main_start_mono_ns": int(m[2])}
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.002)
    raise RuntimeError(f"no start marker in {path}")


def child_of(pid: int, timeout: float = 5.0) -> int:
    """The first child process of pid (perf's forked workload, before or after its exec)."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
        except FileNotFoundError:
            pass
        time.sleep(0.0005)
    raise RuntimeError(f"perf (pid {pid}) forked no child")


def comm_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


class Snapshotter:
    """`python -m gclens snapshot --pid PID -o FILE --every 0.5` in the background."""

    def __init__(self, python: str, pid: int, out: str, every: str | None, log: str):
        self.cmd = [python, "-m", "gclens", "snapshot", "--pid", str(pid), "-o", out]
        if every:
            self.cmd += ["--every", every]
        self.log = open(log, "wb")  # noqa: SIM115 (closed in finish())
        self.started_mono = clock_mono()
        self.proc = subprocess.Popen(self.cmd, cwd=REPO, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def finish(self, timeout: float = 15.0) -> dict:
        killed = False
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            killed = True
            self.proc.send_signal(signal.SIGINT)
            try:
                rc = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        self.log.close()
        return {"cmd": self.cmd, "exit_code": rc, "stopped_by_generator": killed,
                "started_mono_ns": self.started_mono}


def start_snapshot(c: Capture, python: str, pid: int, dest: str, tmp: str) -> Snapshotter:
    name = "snapshots.jsonl" if c.snapshot_every else "snapshot.json"
    return Snapshotter(python, pid, os.path.join(dest, name), c.snapshot_every,
                       os.path.join(tmp, "snapshot.log"))


def snapshot_cmd_available(python: str) -> bool:
    r = subprocess.run([python, "-m", "gclens", "snapshot", "--help"], cwd=REPO,
                       capture_output=True, text=True)
    return r.returncode == 0 and "--pid" in r.stdout


class CgroupV1Cpu:
    def __init__(self):
        self.path = os.path.join(CGROUP_V1_CPU, CGROUP_NAME)

    def _write(self, name: str, value: str) -> None:
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def read(self, name: str) -> str:
        with open(os.path.join(self.path, name)) as f:
            return f.read().strip()

    def create(self) -> None:
        if os.path.isdir(self.path):
            os.rmdir(self.path)  # left over from an interrupted run (fails if it has tasks)
        os.mkdir(self.path)
        self._write("cpu.cfs_period_us", str(PERIOD_US))
        self._write("cpu.cfs_quota_us", "-1")

    def join(self, pid: int) -> None:
        self._write("cgroup.procs", str(pid))

    def set_quota(self, quota: int) -> tuple[int, int, int]:
        t0 = clock_mono()
        self._write("cpu.cfs_quota_us", str(quota))
        t1 = clock_mono()
        return t0, t1, clock_real()

    def remove(self) -> None:
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)
        print(f"   warning: could not remove {self.path}", flush=True)


class SwappinessChange:
    """Fallback when cgroup writes are refused: change vm.swappiness mid-run."""
    path = "/proc/sys/vm/swappiness"

    def __init__(self):
        with open(self.path) as f:
            self.old = f.read().strip()
        self.new = "10" if self.old != "10" else "30"

    def set(self) -> tuple[int, int, int]:
        t0 = clock_mono()
        with open(self.path, "w") as f:
            f.write(self.new)
        t1 = clock_mono()
        return t0, t1, clock_real()

    def restore(self) -> None:
        with open(self.path, "w") as f:
            f.write(self.old)


# ---------------------------------------------------------------- running
def perf_record_cmd(c: Capture, data: str) -> list:
    cmd = [PERF, "record", "-q"]
    if c.clock:
        cmd += ["-k", c.clock]
    cmd += ["-g", "-e", "cpu-clock", "-F", PERF_FREQ, "-o", data]
    return cmd


def shown_cmd(cmd: list, tmp: str) -> str:
    return " ".join(a.replace(tmp + "/", "").replace(PERF, "perf") for a in cmd)


def run_capture(c: Capture, go: str, binary: str, build_cmd: list, outdir: str,
                python: str, snapshots_ok: bool) -> dict:
    rel = capture_dir(c, go)
    dest = os.path.join(outdir, rel)
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    tmp = tempfile.mkdtemp(prefix="gclens-perf-")
    try:
        exe = os.path.join(tmp, "perfdemo")
        shutil.copy2(binary, exe)
        data = os.path.join(tmp, "perf.data")
        truth_tmp = os.path.join(tmp, "program-truth.json")
        stdout_p = os.path.join(dest, "stdout.txt")
        stderr_p = os.path.join(dest, "trace.stderr")
        env = {**clean_env(), "GODEBUG": GODEBUG, "GOMAXPROCS": "2", **c.env,
               "GCLENS_TRUTH": truth_tmp}
        prog = ["./perfdemo", *c.args]
        cap: dict = {"name": c.name, "dir": rel, "go": "go" + go, "mode": c.mode,
                     "description": c.description,
                     "env": {k: env[k] for k in sorted(env) if k.startswith("GO")},
                     "build": " ".join(build_cmd)}
        snap = None
        perf_stderr_p = os.path.join(tmp, "perf.stderr")
        change = None
        with open(stdout_p, "wb") as out, open(stderr_p, "wb") as err:
            if c.mode == "exec":
                cg = sw = None
                if c.cgroup_change:
                    try:
                        cg = CgroupV1Cpu()
                        cg.create()
                    except OSError as e:
                        print(f"   cgroup v1 cpu not writable ({e}); falling back to "
                              f"vm.swappiness", flush=True)
                        cg = None
                        change = {"kind": "sysctl", "fallback_reason": str(e)}
                pcmd = [*perf_record_cmd(c, data), "--", *prog]
                cap["perf_cmd"] = (f"GODEBUG={GODEBUG} GOMAXPROCS=2"
                                   + "".join(f" {k}={v}" for k, v in c.env.items())
                                   + f" {shown_cmd(pcmd, tmp)} > stdout.txt 2> trace.stderr")
                t_launch = clock_mono()
                proc = subprocess.Popen(pcmd, cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=err)
                cap["perf_launch_mono_ns"] = t_launch
                try:
                    if cg is not None:
                        kid = child_of(proc.pid)
                        comm_before = comm_of(kid)
                        cg.join(kid)
                        cap["cgroup_join_mono_ns"] = clock_mono()
                        cap["cgroup_join_comm"] = comm_before  # perf-exec: joined before the exec
                    mk = wait_for_marker(stdout_p, proc)
                    if snapshots_ok and c.snapshot:
                        snap = start_snapshot(c, python, mk["pid"], dest, tmp)
                    if c.cgroup_change:
                        t_at = mk["main_start_mono_ns"] + int(CHANGE_AFTER_S * 1e9)
                        time.sleep(max(0.0, (t_at - clock_mono()) / 1e9))
                        if cg is not None:
                            t0, t1, treal = cg.set_quota(QUOTA_US)
                            change = {"kind": "cgroup_v1_cpu_quota",
                                      "cgroup": f"cpu:/{CGROUP_NAME}",
                                      "path": os.path.join(cg.path, "cpu.cfs_quota_us"),
                                      "setting": "cpu.cfs_quota_us",
                                      "old": "-1", "new": str(QUOTA_US),
                                      "read_back": cg.read("cpu.cfs_quota_us"),
                                      "cpu.cfs_period_us": int(cg.read("cpu.cfs_period_us")),
                                      "before_write_mono_ns": t0, "change_mono_ns": t1,
                                      "change_realtime_ns": treal}
                        else:
                            sw = SwappinessChange()
                            t0, t1, treal = sw.set()
                            change.update({"setting": "vm.swappiness", "path": sw.path,
                                           "old": sw.old, "new": sw.new,
                                           "before_write_mono_ns": t0, "change_mono_ns": t1,
                                           "change_realtime_ns": treal})
                        change["change_after_main_start_s"] = round(
                            (change["change_mono_ns"] - mk["main_start_mono_ns"]) / 1e9, 6)
                    rc = proc.wait(timeout=60)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                    if c.cgroup_change:
                        if cg is not None:
                            stat = dict(ln.split() for ln in cg.read("cpu.stat").splitlines())
                            change["cpu.stat_at_end"] = {k: int(v) for k, v in stat.items()}
                            cg.remove()
                            change["cgroup_removed"] = not os.path.isdir(cg.path)
                        elif sw is not None:
                            sw.restore()
                            change["restored"] = True
                cap["perf_exit_code"] = rc
            elif c.mode == "attach":
                t_launch = clock_mono()
                proc = subprocess.Popen(prog, cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=err)
                try:
                    mk = wait_for_marker(stdout_p, proc)
                    t_at = mk["main_start_mono_ns"] + int(ATTACH_AFTER_S * 1e9)
                    time.sleep(max(0.0, (t_at - clock_mono()) / 1e9))
                    pcmd = [*perf_record_cmd(c, data), "-p", str(proc.pid)]
                    cap["perf_cmd"] = (f"GODEBUG={GODEBUG} GOMAXPROCS=2 ./perfdemo > stdout.txt "
                                       f"2> trace.stderr & sleep ~{ATTACH_AFTER_S}; "
                                       + shown_cmd(pcmd, tmp).replace(str(proc.pid), "$!"))
                    cap["attach_mono_ns"] = clock_mono()
                    with open(perf_stderr_p, "wb") as perr:
                        perf = subprocess.Popen(pcmd, cwd=tmp, stdin=subprocess.DEVNULL,
                                                stdout=perr, stderr=subprocess.STDOUT)
                    rc_prog = proc.wait(timeout=60)
                    try:
                        rc = perf.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        perf.send_signal(signal.SIGINT)
                        rc = perf.wait(timeout=15)
                        cap["perf_stopped_by_sigint"] = True
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                cap["perf_exit_code"] = rc
                cap["program_exit_code"] = rc_prog
                cap["program_launch_mono_ns"] = t_launch
            else:  # plain
                cap["cmd"] = ("GODEBUG=" + GODEBUG + " GOMAXPROCS=2"
                              + "".join(f" {k}={v}" for k, v in c.env.items())
                              + " ./perfdemo > stdout.txt 2> trace.stderr")
                proc = subprocess.Popen(prog, cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=err)
                try:
                    mk = wait_for_marker(stdout_p, proc)
                    if snapshots_ok and c.snapshot:
                        snap = start_snapshot(c, python, mk["pid"], dest, tmp)
                    rc_prog = proc.wait(timeout=60)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                cap["program_exit_code"] = rc_prog
        if snap is not None:
            cap["snapshot"] = snap.finish()
            cap["snapshot"]["cmd"] = shown_snapshot_cmd(snap.cmd, dest)
            with open(os.path.join(tmp, "snapshot.log"), "rb") as f:
                slog = f.read().decode(errors="replace").strip()
            if slog:
                cap["snapshot"]["output"] = slog[-2000:]
        elif c.snapshot:
            cap["snapshot"] = None
            cap["snapshot_missing"] = "gclens snapshot was not available"
        if change is not None:
            with open(os.path.join(dest, "change.json"), "w") as f:
                json.dump(change, f, indent=2)
                f.write("\n")
        if os.path.exists(perf_stderr_p):
            with open(perf_stderr_p, "rb") as f:
                pe = f.read()
            if pe.strip():
                cap["perf_stderr"] = pe.decode(errors="replace")[-2000:]
        if c.mode != "plain":
            script = [PERF, "script", "-i", data, "--ns", "--show-task-events", "--header"]
            r = subprocess.run(script, cwd=tmp, capture_output=True)
            if r.returncode != 0:
                raise RuntimeError(f"perf script failed: {r.stderr.decode()[-500:]}")
            cap["perf_script_cmd"] = "perf script -i perf.data --ns --show-task-events --header"
            with (open(os.path.join(dest, "perf.txt.gz"), "wb") as f,
                  gzip.GzipFile(filename="perf.txt", mode="wb", fileobj=f, mtime=0,
                                compresslevel=9) as gz):
                gz.write(r.stdout)
        with open(truth_tmp) as f:
            truth = json.load(f)
        truth["capture"] = cap
        analysis = analyze(dest, truth, change)
        cap.update(analysis["truth_fields"])
        with open(os.path.join(dest, "truth.json"), "w") as f:
            json.dump(truth, f, indent=2)
            f.write("\n")
        return manifest_entry(c, go, rel, dest, truth, analysis)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def shown_snapshot_cmd(cmd: list, dest: str) -> str:
    out = ["python", *cmd[1:]]
    return " ".join(a.replace(dest + "/", "") for a in out)


# ---------------------------------------------------------------- analysis
HDR_RE = re.compile(r"^(\S.*?)\s+(\d+)\s+(\d+\.\d{9}):\s+(\d+)\s+(\S+):\s*$")
TASK_RE = re.compile(r"^(\S.*?)\s+(\d+)\s+(\d+\.\d{9}): (PERF_RECORD_\w+)(.*)$")
GC_RE = re.compile(r"^gc (\d+) @(\d+\.\d+)s \d+%[^:]*: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock.*?"
                   r"( \(forced\))?$")
MARK_RE = re.compile(r"runtime\.(gcBgMarkWorker|gcDrain|markroot|scanobject|scanObject|scanSpan|"
                     r"greyobject|gcAssistAlloc|wbBufFlush|scanstack|scanblock|tryDeferToSpanScan)")


def parse_perf_text(text: str):
    samples = []   # (comm, tid, t_ns, frames)
    tasks = []     # (comm, tid, t_ns, kind, rest)
    header = []
    cur = None
    for line in text.splitlines():
        if line.startswith("#"):
            header.append(line)
            continue
        if not line.strip():
            cur = None
            continue
        if line.startswith("\t") or line.startswith(" "):
            if cur is not None:
                parts = line.strip().split(None, 1)
                cur[3].append(parts[1] if len(parts) > 1 else "")
            continue
        m = TASK_RE.match(line)
        if m:
            t = m[3].split(".")
            tasks.append((m[1], int(m[2]), int(t[0]) * 10**9 + int(t[1]), m[4], m[5]))
            cur = None
            continue
        m = HDR_RE.match(line)
        if m:
            t = m[3].split(".")
            cur = (m[1], int(m[2]), int(t[0]) * 10**9 + int(t[1]), [])
            samples.append(cur)
    return header, samples, tasks


def gc_windows(stderr_text: str):
    """[(num, start_s, end_s)] program time in s: [@, @ + a + b + c + 1 ms]."""
    out = []
    for line in stderr_text.splitlines():
        m = GC_RE.match(line)
        if m:
            at = float(m[2])
            dur = (float(m[3]) + float(m[4]) + float(m[5])) / 1e3
            out.append((int(m[1]), at, at + dur + 1e-3))
    return out


def inside_share(times_ns, theta_ns, windows) -> float | None:
    if not times_ns:
        return None
    w = [(theta_ns + int(a * 1e9), theta_ns + int(b * 1e9)) for _, a, b in windows]
    w.sort()
    starts = [a for a, _ in w]
    n_in = 0
    for t in times_ns:
        i = bisect.bisect_right(starts, t) - 1
        if i >= 0 and t <= w[i][1]:
            n_in += 1
    return round(n_in / len(times_ns), 4)


def analyze(dest: str, truth: dict, change: dict | None) -> dict:
    with open(os.path.join(dest, "trace.stderr"), "rb") as f:
        stderr_text = f.read().decode(errors="replace")
    windows = gc_windows(stderr_text)
    res = {"gc_lines": len(windows), "num_gc": truth["num_gc"],
           "num_forced_gc": truth["num_forced_gc"],
           "forced_gc_lines": sum(1 for ln in stderr_text.splitlines()
                                  if ln.startswith("gc ") and ln.endswith("(forced)")),
           "pacer_lines": stderr_text.count("pacer:")}
    tf = {"pid": truth["pid"], "theta_mono_ns": truth["runtime_init_mono_ns"]}
    if change:
        tf["change_mono_ns"] = change.get("change_mono_ns")
    pz = os.path.join(dest, "perf.txt.gz")
    if os.path.exists(pz):
        with gzip.open(pz, "rt", errors="replace") as f:
            header, samples, tasks = parse_perf_text(f.read())
        clockid = next((h for h in header if h.startswith("# clockid:")), None)
        mono = clockid is not None and "monotonic" in clockid
        tf["perf_clock"] = "monotonic" if mono else "perf_default"
        pid = truth["pid"]
        execs = [t for t in tasks if t[3] == "PERF_RECORD_COMM" and t[4].startswith(" exec:")
                 and f":{pid}/{pid}" in t[4]]
        tids = {pid}
        for t in tasks:
            m = re.match(r"\((\d+):(\d+)\)", t[4])
            if t[3] == "PERF_RECORD_FORK" and m and int(m[1]) == pid:
                tids.add(int(m[2]))
            m = re.search(r":(\d+)/(\d+)$", t[4])
            if t[3] == "PERF_RECORD_COMM" and m and int(m[1]) == pid:
                tids.add(int(m[2]))
        own = [s for s in samples if s[1] in tids]
        marks = [s for s in own if any("gcDrain" in fr for fr in s[3])]
        marks_wide = [s for s in own if any(MARK_RE.search(fr) for fr in s[3])]
        res.update({"perf_clockid_header": clockid, "samples": len(samples),
                    "target_samples": len(own), "target_threads": len(tids),
                    "mark_samples_gcDrain": len(marks), "mark_samples_wide": len(marks_wide),
                    "exec_events": len(execs),
                    "first_sample_ns": min((s[2] for s in own), default=None),
                    "last_sample_ns": max((s[2] for s in own), default=None)})
        theta_mono = truth["runtime_init_mono_ns"]
        if execs:
            tf["exec_event_perf_ns"] = execs[0][2]
        perf_minus_mono = 0 if mono else None
        fm = truth.get("fork_marker") or {}
        if fm.get("enabled") and fm.get("child_pid", -1) > 0:
            cp = fm["child_pid"]
            forks = [t[2] for t in tasks if t[3] == "PERF_RECORD_FORK"
                     and re.match(rf"\({cp}:{cp}\)", t[4])]
            if forks:
                tf["fork_marker_perf_ns"] = forks[0]
                lo = forks[0] - fm["t1_mono_ns"]
                hi = forks[0] - fm["t0_mono_ns"]
                tf["perf_minus_mono_ns_bounds"] = [lo, hi]
                if not mono:
                    perf_minus_mono = (lo + hi) // 2
                    tf["perf_minus_mono_ns_estimate"] = perf_minus_mono
        if mono:
            tf["theta_perf_ns"] = theta_mono
        else:
            tf["theta_perf_ns"] = None  # not known exactly in perf's default clock
            if perf_minus_mono is not None:
                tf["theta_perf_ns_estimate_from_fork_marker"] = theta_mono + perf_minus_mono
        if execs:
            d = (theta_mono + (perf_minus_mono or 0) - execs[0][2]) / 1e6
            tf["exec_to_theta_ms" if mono else "exec_to_theta_ms_estimate"] = round(d, 3)
        if perf_minus_mono is not None:
            th = theta_mono + perf_minus_mono
            res["inside_share_gcDrain"] = inside_share([s[2] for s in marks], th, windows)
            res["inside_share_mark_wide"] = inside_share([s[2] for s in marks_wide], th, windows)
            wide_ids = {id(s) for s in marks_wide}
            others = [s[2] for s in own if id(s) not in wide_ids]
            res["inside_share_other"] = inside_share(others, th, windows)
            res["inside_share_all"] = inside_share([s[2] for s in own], th, windows)
            res["theta_used_for_shares_ns"] = th
        if not mono:
            # what the shares look like if the default clock were read as CLOCK_MONOTONIC
            res["inside_share_gcDrain_if_read_as_mono"] = inside_share(
                [s[2] for s in marks], theta_mono, windows)
    snaps = os.path.join(dest, "snapshots.jsonl")
    single = os.path.join(dest, "snapshot.json")
    lines = None
    if os.path.exists(snaps):
        with open(snaps) as f:
            lines = [ln for ln in f if ln.strip()]
    elif os.path.exists(single):
        with open(single) as f:
            lines = [json.dumps(json.load(f))]
    if lines is not None:
        res["snapshots"] = len(lines)
        if change and change.get("change_mono_ns"):
            before = after = 0
            for ln in lines:
                try:
                    obj = json.loads(ln)
                except ValueError:
                    continue
                tm = find_mono(obj)
                if tm is None:
                    continue
                if tm < change["change_mono_ns"]:
                    before += 1
                else:
                    after += 1
            res["snapshots_before_change"] = before
            res["snapshots_after_change"] = after
    return {"truth_fields": tf, "checks": res}


def find_mono(obj) -> int | None:
    """The CLOCK_MONOTONIC capture time of a snapshot object (key names vary)."""
    cap = obj.get("captured") if isinstance(obj, dict) else None
    if isinstance(cap, dict) and isinstance(cap.get("monotonic_ns"), int):
        return cap["monotonic_ns"]
    if isinstance(obj, dict):
        for k, v in obj.items():
            kl = k.lower()
            if isinstance(v, int) and "mono" in kl and "raw" not in kl:
                return v
        for k in ("clock", "clocks", "captured", "capture", "time", "times", "meta"):
            if k in obj:
                r = find_mono(obj[k])
                if r is not None:
                    return r
    return None


def manifest_entry(c: Capture, go: str, rel: str, dest: str, truth: dict, analysis: dict) -> dict:
    files = sorted(os.listdir(dest))
    cap = truth["capture"]
    e = {"dir": rel, "capture": c.name, "group": c.group, "go": "go" + go,
         "go_version": truth["go_version"], "mode": c.mode,
         "perf_clock": cap.get("perf_clock"), "pid": truth["pid"],
         "env": cap["env"], "args": list(c.args),
         "cmd": cap.get("perf_cmd") or cap.get("cmd"),
         "files": files,
         "bytes": sum(os.path.getsize(os.path.join(dest, fn)) for fn in files),
         "theta_mono_ns": truth["runtime_init_mono_ns"],
         "theta_perf_ns": cap.get("theta_perf_ns"),
         "exec_event_perf_ns": cap.get("exec_event_perf_ns"),
         "exec_to_theta_ms": cap.get("exec_to_theta_ms"),
         "change_mono_ns": cap.get("change_mono_ns"),
         "description": c.description,
         **analysis["checks"]}
    return e


# ---------------------------------------------------------------- summary
def summarize(outdir: str) -> None:
    with open(os.path.join(outdir, "manifest.json")) as f:
        man = json.load(f)
    hdr = (f"{'dir':34} {'clock':9} {'samp':>5} {'gc':>3} {'numgc':>5} {'mark':>5} "
           f"{'in':>6} {'inW':>6} {'inO':>6} {'exec->θ ms':>10} {'snaps':>5}  note")
    print(hdr)
    print("-" * len(hdr))
    for e in man["captures"]:
        notes = []
        if e["gc_lines"] != e["num_gc"]:
            notes.append(f"gc lines {e['gc_lines']} != num_gc {e['num_gc']}")
        if e.get("change_mono_ns"):
            notes.append(f"change at {e['change_mono_ns']}"
                         f" (snapshots {e.get('snapshots_before_change')}"
                         f"/{e.get('snapshots_after_change')})")

        def f(k, e=e):
            v = e.get(k)
            return "-" if v is None else v
        print(f"{e['dir']:34} {f('perf_clock')!s:9} {f('target_samples')!s:>5} "
              f"{e['gc_lines']:>3} {e['num_gc']:>5} {f('mark_samples_gcDrain')!s:>5} "
              f"{f('inside_share_gcDrain')!s:>6} {f('inside_share_mark_wide')!s:>6} "
              f"{f('inside_share_other')!s:>6} {f('exec_to_theta_ms')!s:>10} "
              f"{f('snapshots')!s:>5}  {'; '.join(notes)}")
    total = 0
    for root, _, files in os.walk(outdir):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    print(f"total size of {outdir}: {total / 1e6:.2f} MB")


def recheck(outdir: str) -> None:
    """Recompute the checks of the stored captures into the manifest."""
    man_path = os.path.join(outdir, "manifest.json")
    with open(man_path) as f:
        man = json.load(f)
    for e in man["captures"]:
        dest = os.path.join(outdir, e["dir"])
        with open(os.path.join(dest, "truth.json")) as f:
            truth = json.load(f)
        change = None
        if os.path.exists(os.path.join(dest, "change.json")):
            with open(os.path.join(dest, "change.json")) as f:
                change = json.load(f)
        e.update(analyze(dest, truth, change)["checks"])
    with open(man_path, "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--toolchain", action="append", default=[], metavar="VERSION=PATH",
                    help="go binary for 1.19 or 1.26 (e.g. 1.26=/opt/go/bin/go)")
    ap.add_argument("--only-go", action="append", default=[], metavar="VERSION")
    ap.add_argument("--only", action="append", default=[], metavar="CAPTURE",
                    help="only these captures (" + ", ".join(c.name for c in CAPTURES) + ")")
    ap.add_argument("--python", default=os.path.join(REPO, ".venv/bin/python"),
                    help="python that has gclens (for `gclens snapshot`)")
    ap.add_argument("--no-snapshots", action="store_true",
                    help="do not run gclens snapshot (the gogc-change runs are then skipped)")
    ap.add_argument("--wait-snapshot", type=float, default=0, metavar="MINUTES",
                    help="wait up to this long for `gclens snapshot` to exist (retry every 2 min)")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--check", action="store_true",
                    help="recompute checks of the stored captures and print the summary")
    args = ap.parse_args()
    outdir = os.path.abspath(args.out)
    if args.check:
        recheck(outdir)
        summarize(outdir)
        return 0
    if os.geteuid() != 0:
        print("needs root (perf record, cgroup writes)", file=sys.stderr)
        return 1
    overrides = dict(t.split("=", 1) for t in args.toolchain)
    names = {c.name for c in CAPTURES}
    for n in args.only:
        if n not in names:
            raise SystemExit(f"unknown capture {n!r}; known: {sorted(names)}")
    snapshots_ok = False
    if not args.no_snapshots:
        python = args.python if os.path.exists(args.python) else sys.executable
        t_end = time.monotonic() + args.wait_snapshot * 60
        while True:
            snapshots_ok = snapshot_cmd_available(python)
            if snapshots_ok or time.monotonic() >= t_end:
                break
            print("   gclens snapshot not available yet; retrying in 120 s", flush=True)
            time.sleep(120)
        if not snapshots_ok:
            print(f"warning: `{python} -m gclens snapshot` not available: captures without "
                  f"snapshots, gogc-change skipped", flush=True)
    else:
        python = sys.executable

    bindir = tempfile.mkdtemp(prefix="gclens-perf-bin-")
    entries = []
    skipped = []
    toolchains = {}
    try:
        gos = sorted({g for c in CAPTURES for g in c.gos}, key=lambda v: int(v.split(".")[1]))
        for go in gos:
            if args.only_go and go not in args.only_go:
                continue
            gobin = resolve_go(go, overrides)
            binary, bcmd = build(gobin, os.path.join(bindir, go))
            toolchains["go" + go] = {"version": go_version(gobin), "go": gobin}
            print(f"== go{go}: {toolchains['go' + go]['version']}", flush=True)
            for c in CAPTURES:
                if go not in c.gos or (args.only and c.name not in args.only):
                    continue
                if c.mode == "plain" and not snapshots_ok:
                    skipped.append({"dir": capture_dir(c, go), "reason": "no gclens snapshot"})
                    continue
                t0 = time.monotonic()
                e = run_capture(c, go, binary, bcmd, outdir, python, snapshots_ok)
                print(f"   {e['dir']}: {time.monotonic() - t0:.1f}s gc={e['gc_lines']}/"
                      f"{e['num_gc']} samples={e.get('target_samples')} "
                      f"mark={e.get('mark_samples_gcDrain')} "
                      f"in={e.get('inside_share_gcDrain')} exec->θ={e.get('exec_to_theta_ms')} ms "
                      f"snapshots={e.get('snapshots')}", flush=True)
                entries.append(e)
    finally:
        shutil.rmtree(bindir, ignore_errors=True)

    man_path = os.path.join(outdir, "manifest.json")
    old = {"captures": [], "skipped": [], "toolchains": {}}
    if os.path.exists(man_path) and (args.only or args.only_go):
        with open(man_path) as f:
            old = json.load(f)
    done = {e["dir"] for e in entries} | {s["dir"] for s in skipped}
    captures = [e for e in old["captures"] if e["dir"] not in done] + entries
    captures.sort(key=lambda e: (int(e["go"].split(".")[1]), e["dir"]))
    manifest = {
        "generator": "sample_traces/perf/generate_perf.py",
        "host": {"platform": sys.platform, "machine": os.uname().machine,
                 "kernel": os.uname().release, "cpus": os.cpu_count(),
                 "perf": subprocess.run([PERF, "--version"], capture_output=True,
                                        text=True).stdout.strip()},
        "toolchains": {**old.get("toolchains", {}), **toolchains},
        "captures": captures,
        "skipped": [s for s in old.get("skipped", []) if s["dir"] not in done] + skipped,
    }
    with open(man_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print()
    summarize(outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
