#!/usr/bin/env bash
# Runs Gongji locally: installs a pinned NATS server into .tools/ if needed, starts it with
# JetStream on local disk (./data/nats) unless one already answers on 127.0.0.1:4222, builds
# the binary and serves on 127.0.0.1:8080 with sled in ./data/ledger, the example tokens and
# the example rule sets of deploy/examples/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-nats.sh >/dev/null
mkdir -p data/nats
nats_pid=""
if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  .tools/bin/nats-server -js -a 127.0.0.1 -p 4222 -sd ./data/nats >data/nats.log 2>&1 &
  nats_pid=$!
  for _ in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break
    sleep 0.1
  done
  echo "nats-server (JetStream in ./data/nats) on 127.0.0.1:4222, log in data/nats.log"
fi
cleanup() { [ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null || true; }
trap cleanup EXIT
cargo build --release --locked -p gongji --bin gongji
./target/release/gongji serve \
  --data ./data/ledger \
  --listen "${GONGJI_LISTEN:-127.0.0.1:8080}" \
  --tokens deploy/examples/tokens.json \
  --rules deploy/examples/rules.json \
  --nats nats://127.0.0.1:4222 \
  "$@" &
gongji_pid=$!
trap 'kill -TERM $gongji_pid 2>/dev/null || true' INT TERM
wait "$gongji_pid" || true
