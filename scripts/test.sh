#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every unit,
# integration and documentation test, and the benchmarks run once each in
# test mode (so they always build and run).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
cargo test --workspace --doc
