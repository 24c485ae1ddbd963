#!/usr/bin/env bash
# Throwaway PostgreSQL from the machine's binaries, for tests and benchmarks.
# Sourced; defines pg_start and pg_stop and exports PG_URL.
# As root it runs the server as the unprivileged 'postgres' user (created when missing);
# without PostgreSQL binaries it installs Debian's 'postgresql' package first.

pg_bindir() {
  local dir
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return 0
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(readlink -f "$(command -v initdb)")"; return 0; }
  return 1
}

pg_install() {
  echo "PostgreSQL binaries not found: installing Debian's postgresql package"
  if [ "$(id -u)" -ne 0 ]; then
    echo "Not root: install PostgreSQL (apt-get install -y postgresql) and retry." >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
}

pg_free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

pg_start() {
  local bindir
  bindir=$(pg_bindir) || { pg_install && bindir=$(pg_bindir); } || { echo "no PostgreSQL binaries" >&2; return 1; }
  PG_DIR=$(mktemp -d /tmp/cdp-pg.XXXXXX)
  PG_PORT=$(pg_free_port)
  local run_as=()
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    chown postgres "$PG_DIR"
    run_as=(runuser -u postgres --)
  fi
  PG_RUN_AS=("${run_as[@]}")
  PG_CTL="$bindir/pg_ctl"
  "${run_as[@]}" "$bindir/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
    || "${run_as[@]}" "$bindir/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log"; return 1; }
  # Durability off for tests (a thrown-away server needs no fsync); PG_DURABLE=1 keeps
  # PostgreSQL's defaults (fsync, synchronous_commit on) for benchmarks.
  local opts="-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200"
  [ "${PG_DURABLE:-0}" = "1" ] || opts="$opts -c fsync=off -c full_page_writes=off"
  "${run_as[@]}" "$PG_CTL" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "$opts ${PG_EXTRA_OPTS:-}" \
    start >/dev/null || { cat "$PG_DIR/server.log"; return 1; }
  "$bindir/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE cdp" >/dev/null || return 1
  export PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/cdp"
  echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on port $PG_PORT ($PG_DIR)"
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  "${PG_RUN_AS[@]}" "$PG_CTL" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=""
}
