#!/usr/bin/env bash
# A Kafka-API-compatible broker (tansu, written in Rust) for development
# and CI, on loopback.
#
#   scripts/kafka-broker.sh install   build tansu into .tools/ unless it is there (or on PATH)
#   scripts/kafka-broker.sh path      print the tansu binary's path
#   scripts/kafka-broker.sh start     start a broker on 127.0.0.1:$TANSU_PORT (default 9092) and create
#                                     the topics posts, posts.dlq, alerts; TANSU_STORAGE=sqlite (default,
#                                     kept in .tools/broker/tansu.db) or memory (lost on stop; tansu 0.6's
#                                     memory storage answers a fetch inside a record batch with the next
#                                     batch, so a consumer that resumes there skips records: not for tests)
#   scripts/kafka-broker.sh stop      stop it
#   scripts/kafka-broker.sh status    say whether it runs
#
# The integration tests start brokers of their own with the binary that
# `install` builds (they find it in .tools/ or through YUQING_TANSU).
# Building tansu takes about 10-20 minutes on 2 cores; it is done once per
# checkout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
port="${TANSU_PORT:-9092}"
storage="${TANSU_STORAGE:-sqlite}"
state="$tools/broker"
version="0.6.0"

find_tansu() {
  if [ -n "${YUQING_TANSU:-}" ] && [ -x "$YUQING_TANSU" ]; then echo "$YUQING_TANSU"; return 0; fi
  if [ -x "$tools/tansu/bin/tansu" ]; then echo "$tools/tansu/bin/tansu"; return 0; fi
  if command -v tansu >/dev/null 2>&1; then command -v tansu; return 0; fi
  return 1
}

install() {
  if bin="$(find_tansu)"; then
    echo "tansu: present at $bin"
    return 0
  fi
  echo "tansu: building tansu $version into $tools/tansu (takes a while on 2 cores)"
  mkdir -p "$tools"
  CARGO_TARGET_DIR="$tools/tansu-target" cargo install tansu --version "$version" --locked \
    --features dynostore,libsql --root "$tools/tansu"
  rm -rf "$tools/tansu-target"
  echo "tansu: installed at $tools/tansu/bin/tansu"
}

start() {
  bin="$(find_tansu)" || { echo "tansu is not installed: run $0 install" >&2; exit 1; }
  mkdir -p "$state"
  if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
    echo "broker: already running (pid $(cat "$state/pid")) on 127.0.0.1:$port"
    return 0
  fi
  case "$storage" in
    memory) engine="memory://tansu/" ;;
    sqlite) engine="sqlite://tansu.db" ;;
    *) echo "TANSU_STORAGE must be memory or sqlite, got $storage" >&2; exit 2 ;;
  esac
  # (the pid file names the broker itself, not a subshell, so that stop
  # stops it)
  (cd "$state" && { nohup "$bin" broker --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "$engine" >"$state/broker.log" 2>&1 & echo $! >"$state/pid"; })
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      for topic in posts posts.dlq alerts; do
        "$bin" topic create --broker "tcp://127.0.0.1:$port" --partitions 3 "$topic" >/dev/null 2>&1 || true
      done
      echo "broker: running on 127.0.0.1:$port (pid $(cat "$state/pid"), $storage storage); topics posts, posts.dlq, alerts"
      return 0
    fi
    sleep 0.1
  done
  echo "broker: did not start; see $state/broker.log" >&2
  exit 1
}

stop() {
  if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
    kill "$(cat "$state/pid")"
    rm -f "$state/pid"
    echo "broker: stopped"
  else
    echo "broker: not running"
  fi
}

case "${1:-}" in
  install) install ;;
  path) find_tansu || { echo "tansu is not installed: run $0 install" >&2; exit 1; } ;;
  start) start ;;
  stop) stop ;;
  status)
    if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      echo "broker: running (pid $(cat "$state/pid")) on 127.0.0.1:$port"
    else
      echo "broker: not running"
    fi ;;
  *) sed -n '2,19p' "$0"; exit 2 ;;
esac
