#!/usr/bin/env bash
# The benchmark, one command: figures for docs/benchmarks.md from one run.
#   1. gongji bench in-process: 100,000 persons, 1,000,000 operations of the mix (plus the
#      raw-sled limit, replay and as-of figures it reports); then bulk: 1,000,000 settlements
#      in batches of 8,190 (`--batch`);
#   2. gongji bench over HTTP against `gongji serve` with NATS (publisher lag read from /metrics),
#      the mix; then wrk with 64 connections of unique settlements (scripts/wrk/); then bulk
#      settlements in `POST /v1/batch` requests of 8,192;
#   3. the peer: the settlement workload on cqrs-es 0.5 + postgres-es, PostgreSQL 15 at its
#      durable defaults (installed from Debian's packages if missing, started here);
#   4. memory per person at 1,000,000 persons.
# Writes the raw JSON to target/bench/ and the table to docs/benchmarks.md.
# Sizes can be lowered for a quick look: PERSONS, OPS, BULK_OPS, HTTP_PERSONS, HTTP_OPS, HTTP_BULK_OPS,
# PEER_SETTLEMENTS, BIG_PERSONS, WRK_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
PERSONS="${PERSONS:-100000}"; OPS="${OPS:-1000000}"
HTTP_PERSONS="${HTTP_PERSONS:-10000}"; HTTP_OPS="${HTTP_OPS:-100000}"
BULK_OPS="${BULK_OPS:-1000000}"; HTTP_BULK_OPS="${HTTP_BULK_OPS:-500000}"
PEER_SETTLEMENTS="${PEER_SETTLEMENTS:-20000}"; BIG_PERSONS="${BIG_PERSONS:-1000000}"
CLIENTS="${CLIENTS:-64}"
out=target/bench; mkdir -p "$out"
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${PGDATA:-}" ] && runuser -u postgres -- pg_ctl -D "$PGDATA" stop -m fast >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

bash scripts/install-nats.sh >/dev/null
cargo build --release --locked -p gongji --bin gongji
(cd bench/peer && cargo build --release)

echo "== 1. in-process"
./target/release/gongji bench --persons "$PERSONS" --ops "$OPS" --clients "$CLIENTS" --dir "$work" > "$out/inproc.json"
echo "== 1b. bulk in-process: batches of 8,190 settlements, two in flight"
./target/release/gongji bench --persons "$PERSONS" --ops "$BULK_OPS" --batch 8190 --clients 2 --as-of-lookups 1000 \
  --dir "$work" > "$out/bulk.json"

echo "== 2. HTTP with the publisher"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nats_port=$(free_port)
.tools/bin/nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$work/nats" >/dev/null 2>&1 & pids+=($!)
sleep 0.5
GONGJI_LOG=warn ./target/release/gongji serve --data "$work/ledger" --listen 127.0.0.1:0 \
  --tokens deploy/examples/tokens.json --rules deploy/examples/rules.json --nats "nats://127.0.0.1:$nats_port" > "$work/serve.out" 2>"$work/serve.err" & pids+=($!)
for _ in $(seq 1 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^gongji listening on //p' "$work/serve.out")
curl -s -H 'Authorization: Bearer op-secret' -H 'Content-Type: application/json' "$url/v1/institutions" \
  -d '{"request_id":"bench-inst","institution_id":"H21010000001","region":"210100","kind":"pharmacy","name":"Bench pharmacy"}' >/dev/null
start=$(date +%s.%N)
./target/release/gongji bench --url "$url" --persons "$HTTP_PERSONS" --ops "$HTTP_OPS" --clients "$CLIENTS" > "$out/http.json" &
bench_pid=$!
lag_peak=0
# The publisher's lag during the burst, sampled from /metrics, then until it has drained.
while true; do
  lag=$(curl -s "$url/metrics" | awk '/^gongji_publisher_lag_events /{print $2}')
  lag=${lag:-0}
  [ "$lag" -gt "$lag_peak" ] && lag_peak=$lag
  if ! kill -0 "$bench_pid" 2>/dev/null && [ "$lag" = "0" ]; then break; fi
  sleep 0.2
done
wait "$bench_pid"
drained=$(date +%s.%N)
published=$(curl -s "$url/metrics" | awk '/^gongji_published_total/{s+=$2} END{print s+0}')
python3 - "$out/http.json" "$start" "$drained" "$published" "$lag_peak" <<'PY'
import json, sys
path, start, drained, published, lag = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
report = json.load(open(path))
report["publisher"] = {"published": published, "seconds_until_drained": round(drained - start, 2),
                       "events_per_second": round(published / (drained - start)), "lag_events_peak": lag}
json.dump(report, open(path, "w"), indent=2)
PY
echo "== 2b. wrk (a load tool we did not write): 64 connections, unique settlements, publisher on"
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null; }
python3 scripts/wrk/population.py "$url" wrk 1000
wrk -t2 -c64 -d"${WRK_SECONDS:-30}"s -s scripts/wrk/settlements.lua "$url" -- wrk 1000 | tail -n 1 > "$out/wrk.json"
echo "== 2c. HTTP bulk: POST /v1/batch of 8,192 settlements, two in flight"
./target/release/gongji bench --url "$url" --persons "$HTTP_PERSONS" --ops "$HTTP_BULK_OPS" --batch 8192 --clients 2 \
  > "$out/http_bulk.json"
kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true

echo "== 3. the peer: cqrs-es + postgres-es"
command -v pg_ctl >/dev/null || { apt-get install -y postgresql >/dev/null; }
export PATH="/usr/lib/postgresql/15/bin:$PATH"
PGDATA="$work/pg"; mkdir -p "$PGDATA"; chown postgres "$PGDATA" "$work"
pg_port=$(free_port)
runuser -u postgres -- initdb -D "$PGDATA" -U postgres --auth=trust >/dev/null
runuser -u postgres -- pg_ctl -D "$PGDATA" -o "-p $pg_port -c listen_addresses=127.0.0.1 -c max_connections=200" -l "$work/pg.log" start >/dev/null
for _ in $(seq 1 100); do pg_isready -h 127.0.0.1 -p "$pg_port" >/dev/null 2>&1 && break; sleep 0.1; done
./bench/peer/target/release/gongji-peer-bench "postgres://postgres@127.0.0.1:$pg_port/postgres" 10000 "$PEER_SETTLEMENTS" "$CLIENTS" > "$out/peer.json"
runuser -u postgres -- pg_ctl -D "$PGDATA" stop -m fast >/dev/null; PGDATA=""

echo "== 4. memory per person at $BIG_PERSONS persons"
./target/release/gongji bench --persons "$BIG_PERSONS" --ops 0 --clients "$CLIENTS" --as-of-lookups 10000 --dir "$work" > "$out/big.json"

python3 scripts/bench_report.py "$out" > docs/benchmarks.md
echo "== docs/benchmarks.md written"
