#!/usr/bin/env python3
"""Record page-cache pressure beside a Go program's GC: the tuning guide's §4 line-up, for real.

Two perf captures on CLOCK_MONOTONIC, made at the same time on one host:

    perf record -a -k CLOCK_MONOTONIC -e vmscan:mm_vmscan_lru_isolate      (system-wide, events only)
    perf record -k mono -g -e cpu-clock -F 999 -- ./perfdemo -duration D  (GODEBUG=gctrace=1: the GC)

and, meanwhile, a page-cache reader that makes the kernel reclaim: it reads a file on disk in a
cgroup-v1 memory cgroup limited to --limit-mib, in bursts (--bursts, seconds after the Go
program starts), so the LRU isolation events come and go on the GC timeline. The burst times
(CLOCK_MONOTONIC) go to truth.json. The reader's cgroup is separate from the Go program's, so the
pressure is the host's, not the program's own: the capture shows the line-up, not a cause.

Needs root (perf -a, tracefs, cgroup writes), perf, and Go 1.19 (the program is built as
../generate_perf.py builds it). It mounts tracefs when it is not mounted and unmounts it after,
and removes its cgroup and file. Standard library only.

    sudo python3 sample_traces/perf/vmscan/record_vmscan.py
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.normpath(os.path.join(HERE, "..", "..", "programs"))
GO_ENV = {"GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-mod=mod"}
CGROUP = "/sys/fs/cgroup/memory/gclens-vmscan"
TRACEFS = "/sys/kernel/tracing"

READER = r"""
import os, sys, time
path, limit_mib_s, schedule = sys.argv[1], float(sys.argv[2]), sys.argv[3]
start = int(sys.argv[4]) / 1e9
bursts = [tuple(float(x) for x in b.split(":")) for b in schedule.split(",")]
fd = os.open(path, os.O_RDONLY)
chunk = 1 << 20
for lo, hi in bursts:
    while time.monotonic() < start + lo:
        time.sleep(0.005)
    t0 = time.monotonic()
    done = 0
    while time.monotonic() < start + hi:
        if not os.read(fd, chunk):
            os.lseek(fd, 0, os.SEEK_SET)
        done += 1
        ahead = t0 + done / limit_mib_s - time.monotonic()  # pace the reads at limit MiB/s
        if ahead > 0:
            time.sleep(ahead)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--go", default="/usr/lib/go-1.19/bin/go")
    ap.add_argument("--duration", default="9s", help="perfdemo -duration")
    ap.add_argument("--limit-mib", type=int, default=32, help="memory limit of the reader's cgroup")
    ap.add_argument("--file-mib", type=int, default=256, help="size of the file the reader reads")
    ap.add_argument("--rate-mib-s", type=float, default=150.0, help="read rate during a burst")
    ap.add_argument("--bursts", default="1.0:2.5,4.5:5.5,7.5:9.0", help="lo:hi seconds after start, comma-separated")
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gclens-vmscan-", dir="/var/tmp")
    mounted = False
    if not os.path.isdir(os.path.join(TRACEFS, "events")):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=True)
        mounted = True
    try:
        return record(args, tmp)
    finally:
        if os.path.isdir(CGROUP):
            os.rmdir(CGROUP)
        if mounted:
            subprocess.run(["umount", TRACEFS], check=False)
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)


def record(args: argparse.Namespace, tmp: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    exe = os.path.join(tmp, "perfdemo")
    subprocess.run([args.go, "build", "-trimpath", "-o", exe, "./perfdemo"], cwd=PROGRAMS, env={**env, **GO_ENV},
                   check=True)
    page_file = os.path.join(tmp, "pagecache.bin")
    with open(page_file, "wb") as f:
        for _ in range(args.file_mib):
            f.write(b"\0" * (1 << 20))
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)  # else its pages stay charged to our cgroup
    os.makedirs(CGROUP, exist_ok=True)
    with open(os.path.join(CGROUP, "memory.limit_in_bytes"), "w") as f:
        f.write(str(args.limit_mib << 20))
    vm_data, cpu_data = os.path.join(tmp, "vmscan.data"), os.path.join(tmp, "cpu.data")
    vm_cmd = ["perf", "record", "-q", "-a", "-k", "CLOCK_MONOTONIC", "-e", "vmscan:mm_vmscan_lru_isolate",
              "-o", vm_data]
    vmscan = subprocess.Popen(vm_cmd)
    time.sleep(1.0)
    truth_path = os.path.join(tmp, "program-truth.json")
    cpu_cmd = ["perf", "record", "-q", "-k", "mono", "-g", "-e", "cpu-clock", "-F", "999", "-o", cpu_data, "--",
               exe, "-duration", args.duration]
    out = args.out
    os.makedirs(out, exist_ok=True)
    start_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    with open(os.path.join(out, "trace.stderr"), "wb") as err:
        go = subprocess.Popen(cpu_cmd, stderr=err, stdout=subprocess.DEVNULL,
                              env={**env, "GODEBUG": "gctrace=1", "GOMAXPROCS": "2", "GCLENS_TRUTH": truth_path})
        reader = subprocess.Popen([sys.executable, "-c", READER, page_file, str(args.rate_mib_s), args.bursts,
                                   str(start_ns)], preexec_fn=lambda: _join(CGROUP))
        go.wait()
    reader.wait()
    time.sleep(0.5)
    vmscan.send_signal(signal.SIGINT)
    vmscan.wait()
    for data, name in ((vm_data, "vmscan.txt.gz"), (cpu_data, "perf.txt.gz")):
        text = subprocess.run(["perf", "script", "-i", data, "--ns", "--show-task-events", "--header"],
                              capture_output=True, check=True).stdout
        with gzip.GzipFile(os.path.join(out, name), "wb", mtime=0) as f:
            f.write(text)
    with open(truth_path) as f:
        truth = json.load(f)
    bursts = [tuple(float(x) for x in b.split(":")) for b in args.bursts.split(",")]
    truth["vmscan"] = {
        "start_mono_ns": start_ns, "reader_cgroup_limit_mib": args.limit_mib, "file_mib": args.file_mib,
        "rate_mib_s": args.rate_mib_s,
        "bursts_mono_ns": [[start_ns + int(lo * 1e9), start_ns + int(hi * 1e9)] for lo, hi in bursts],
        "commands": {"vmscan": " ".join(vm_cmd[:-2]), "cpu": " ".join(cpu_cmd[:-4]) + " -- ./perfdemo -duration "
                     + args.duration, "perf_script": "perf script -i DATA --ns --show-task-events --header"},
        "kernel": os.uname().release,
        "perf": subprocess.run(["perf", "version"], capture_output=True, text=True).stdout.strip(),
    }
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=2, sort_keys=True)
    return 0


def _join(cgroup: str) -> None:
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))


if __name__ == "__main__":
    sys.exit(main())
