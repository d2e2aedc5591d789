#!/usr/bin/env bash
# Runs Gongji locally: builds the binary and serves on 127.0.0.1:8080 with sled in
# ./data/ledger, the example tokens and the example rule sets from deploy/examples/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p server --bin gongji
mkdir -p data
exec ./target/release/gongji serve \
  --data ./data/ledger \
  --listen "${GONGJI_LISTEN:-127.0.0.1:8080}" \
  --tokens deploy/examples/tokens.json \
  --rules deploy/examples/rules.json \
  "$@"
