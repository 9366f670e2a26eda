#!/usr/bin/env bash
# The whole test suite, as CI runs it: what the integration tests need (a
# Kafka-API broker binary built into .tools/ if missing; Prometheus from the
# Debian package if missing), formatting, lints, the shipped alerting rules,
# every unit, integration and documentation test, and the benchmarks run
# once each in test mode (so they always build and run).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use (Prometheus; Chromium and its WebDriver for
# the web page); installed only when missing (needs root, as CI runs).
# Browser screenshots land in ci-artifacts/screenshots/.
need=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
# CJK glyphs, so that the browser test's screenshots are legible.
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: missing ${need[*]}: install the Debian package(s) (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
  echo "scripts/test.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

scripts/kafka-broker.sh install
YUQING_TANSU="$(scripts/kafka-broker.sh path)"
export YUQING_TANSU
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
promtool check rules deploy/prometheus/rules.yml
promtool test rules deploy/prometheus/rules_test.yml
# Unit, integration and documentation tests in one build, then the
# benchmarks in test mode. (A separate `--doc` run would resolve features
# without the dev-dependencies and compile tantivy and its dependents again.)
cargo test --workspace
cargo test --workspace --bench '*'
