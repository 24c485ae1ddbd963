#!/usr/bin/env bash
# Run one benchmark of bench/ against a throwaway, durable PostgreSQL (fsync and
# synchronous_commit on), started from the machine's binaries and stopped on exit.
# Usage: scripts/bench.sh ingest [args for bench/ingest.py]
set -uo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/bench.sh NAME [ARGS]}
shift
export PG_DURABLE=1
export PG_EXTRA_OPTS="-c shared_buffers=512MB -c synchronous_commit=on"
source scripts/pg.sh
pg_start || exit 1
trap pg_stop EXIT
DATABASE_URL="$PG_URL" .venv/bin/python "bench/$name.py" "$@"
