#!/bin/sh
# Re-record perfmini.* and dd-default-clock-header.txt in this directory: one perf capture of perfmini/main.go, saved both as
# `perf script` text and as the JSON Lines of gclens/context/perf_export.py, so that tests can check that
# the two readers agree sample for sample. Needs root (or perf_event_paranoid <= 1), perf with
# libpython (Debian linux-perf), and Go 1.19 at /usr/lib/go-1.19. The samples differ run to run;
# the tests only assert properties that hold for any run.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
python=${PYTHON:-"$repo/.venv/bin/python"}
export_script=$(cd "$repo" && "$python" -c 'import gclens.perf as p; print(p.EXPORT_SCRIPT)')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp "$here/perfmini/main.go" "$here/perfmini/go.mod" "$work/"
cd "$work"
GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod /usr/lib/go-1.19/bin/go build -o perfmini .

GODEBUG=gctrace=1 perf record -q -k mono -g -e cpu-clock -F 499 -o perf.data -- ./perfmini 2> gctrace.txt
perf script -i perf.data --ns --show-task-events --header > perfmini.txt
perf script -i perf.data -s "$export_script" > perfmini.jsonl

gzip -9 -n -c perfmini.txt > "$here/perfmini.txt.gz"
gzip -9 -n -c perfmini.jsonl > "$here/perfmini.jsonl.gz"
cp gctrace.txt "$here/perfmini.gctrace.txt"

# A recording on perf's default clock (no -k): its header has no clockid and no reference time.
perf record -q -e cpu-clock -F 999 -o default.data -- dd if=/dev/zero of=/dev/null bs=64k count=20000 2>/dev/null
perf script -i default.data --header --ns -F +pid > "$here/dd-default-clock-header.txt"

perf --version > "$here/perfmini.versions.txt"
/usr/lib/go-1.19/bin/go version >> "$here/perfmini.versions.txt"
uname -r >> "$here/perfmini.versions.txt"
