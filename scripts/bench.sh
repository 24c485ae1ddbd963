#!/usr/bin/env bash
# Run one benchmark of bench/ against a throwaway, durable PostgreSQL (fsync and
# synchronous_commit on), started from the machine's binaries and stopped on exit.
# Usage: scripts/bench.sh ingest [args for bench/ingest.py]
set -uo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/bench.sh NAME [ARGS]}
shift
export PG_DURABLE=1
# shared_buffers as PostgreSQL's own tuning advice has it, a quarter of the memory (here at
# least 512MB, at most 8GB): the 1M-profile tenant's working set (~2 GB) then stays in it.
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo 2>/dev/null || echo 2048)
buffers_mb=$(( mem_mb / 4 )); (( buffers_mb < 512 )) && buffers_mb=512; (( buffers_mb > 8192 )) && buffers_mb=8192
export PG_EXTRA_OPTS="-c shared_buffers=${buffers_mb}MB -c synchronous_commit=on"
source scripts/pg.sh
pg_start || exit 1
trap pg_stop EXIT
DATABASE_URL="$PG_URL" .venv/bin/python "bench/$name.py" "$@"
