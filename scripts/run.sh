#!/usr/bin/env bash
# `make run`: the background worker beside the development server, both stopped by one Ctrl-C.
# Ctrl-C reaches the whole foreground process group: runserver stops, and the worker stops after
# its current job (a second signal, sent below when runserver is gone, cuts that job short; it
# resumes from its checkpoint at the next start).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT="${PORT:-8000}"

$PY manage.py jobs_worker &
worker=$!
stop_worker() {
  if kill -0 "$worker" 2>/dev/null; then
    kill -TERM "$worker" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$worker" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$worker" 2>/dev/null
  fi
  wait "$worker" 2>/dev/null
}
trap stop_worker EXIT
trap 'exit 130' INT TERM

$PY manage.py runserver "0.0.0.0:$PORT"
