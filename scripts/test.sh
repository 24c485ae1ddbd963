#!/usr/bin/env bash
# `make test`: lint, layering, then the whole suite on a throwaway PostgreSQL, then on SQLite.
# The PostgreSQL server lives in a temporary directory and is stopped on any exit.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export PYTHONDONTWRITEBYTECODE=1

echo "== ruff"
.venv/bin/ruff check . || exit 1
echo "== import layers (DESIGN.md §2)"
.venv/bin/lint-imports || exit 1

# The page tests drive a real headless Chromium (Debian's package; no browser download).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing Debian's chromium for the page tests"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }; } >/dev/null \
    || echo "could not install chromium: the page tests will fail"
fi
[ "$(id -u)" -eq 0 ] && export CDP_REQUIRE_BROWSER=1

source scripts/pg.sh
pg_start || exit 1
trap pg_stop EXIT

# Two workers (pytest-xdist), one per core of the machine CI runs on; CDP_TEST_WORKERS=0 runs in-process.
WORKERS=(-n "${CDP_TEST_WORKERS:-2}")
[ "${CDP_TEST_WORKERS:-2}" = "0" ] && WORKERS=()

status=0
echo "== pytest on PostgreSQL ($PG_URL)"
DATABASE_URL="$PG_URL" $PY -m pytest -p no:cacheprovider "${WORKERS[@]}" "$@" || status=1

echo "== pytest on SQLite"
DATABASE_URL="sqlite:///$PWD/var/test-sqlite.sqlite3" $PY -m pytest -p no:cacheprovider "${WORKERS[@]}" "$@" || status=1

if [ "$status" -ne 0 ]; then
  echo "make test: FAILED (see above)"
fi
exit "$status"
