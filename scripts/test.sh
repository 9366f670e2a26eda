#!/usr/bin/env bash
# The whole test suite, as CI runs it: a Kafka-API broker binary for the
# integration tests (built into .tools/ if missing), formatting, lints,
# every unit, integration and documentation test, and the benchmarks run
# once each in test mode (so they always build and run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/kafka-broker.sh install
YUQING_TANSU="$(scripts/kafka-broker.sh path)"
export YUQING_TANSU
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
cargo test --workspace --doc
