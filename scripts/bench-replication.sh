#!/usr/bin/env bash
# Replication's cost: the same runs with the log replicated through JetStream (--replicate)
# and without, one after the other, on one NATS server with JetStream (R1) on loopback:
#   1. in process, the mix (64 clients) and bulk settlements in batches of 8,190;
#   2. over HTTP (`gongji serve` with and without --replicate), the mix and POST /v1/batch;
#   3. the HTTP runs again on a 3-node cluster on loopback, the streams R3.
# Writes the raw JSON to target/bench/replication/ and the section "Replication" of
# docs/benchmarks.md (between its markers). Sizes: PERSONS, OPS, BULK_OPS, HTTP_PERSONS,
# HTTP_OPS, HTTP_BULK_OPS.
set -euo pipefail
cd "$(dirname "$0")/.."
PERSONS="${PERSONS:-20000}"; OPS="${OPS:-100000}"; BULK_OPS="${BULK_OPS:-200000}"
HTTP_PERSONS="${HTTP_PERSONS:-10000}"; HTTP_OPS="${HTTP_OPS:-50000}"; HTTP_BULK_OPS="${HTTP_BULK_OPS:-100000}"
out=target/bench/replication; mkdir -p "$out"
work=$(mktemp -d); pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

bash scripts/install-nats.sh >/dev/null
cargo build --release --locked -p gongji --bin gongji
bin=./target/release/gongji
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A fresh NATS server (each run of the service its own: a node with an empty disk follows the
# one ledger the stream holds, and the in-process runs leave theirs).
start_nats() {
  local port; port=$(free_port)
  .tools/bin/nats-server -js -a 127.0.0.1 -p "$port" -sd "$work/nats-$port" >/dev/null 2>&1 & pids+=($!)
  for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  nats="nats://127.0.0.1:$port"
}
start_nats

# A fresh 3-node JetStream cluster on loopback (its client URLs in $nats), for the R3 runs.
start_cluster() {
  local routes=() ports=() name i
  for i in 1 2 3; do routes+=("nats-route://127.0.0.1:$(free_port)"); ports+=("$(free_port)"); done
  for i in 0 1 2; do
    name="node-$((i + 1))-$RANDOM"
    .tools/bin/nats-server -js -a 127.0.0.1 -p "${ports[$i]}" -sd "$work/$name" --server_name "$name" \
      --cluster_name "bench-$$" --cluster "${routes[$i]/nats-route/nats}" \
      --routes "$(IFS=,; echo "${routes[*]}")" >/dev/null 2>&1 & pids+=($!)
  done
  nats="nats://127.0.0.1:${ports[0]},nats://127.0.0.1:${ports[1]},nats://127.0.0.1:${ports[2]}"
  sleep 3
}

# Over HTTP: `gongji serve` with and without --replicate against $nats with $1 replicas;
# writes http-$2.json and http_bulk-$2.json.
http_runs() {
  local replicas=$1 label=$2 mode=$3
  serve=(serve --data "$work/ledger-$label" --listen 127.0.0.1:0 --tokens deploy/examples/tokens.json
    --rules deploy/examples/rules.json --nats "$nats" --nats-replicas "$replicas")
  [ "$mode" = on ] && serve+=(--replicate)
  GONGJI_LOG=warn "$bin" "${serve[@]}" > "$work/serve-$label.out" 2> "$work/serve-$label.err" & pids+=($!)
  for _ in $(seq 1 100); do grep -q listening "$work/serve-$label.out" 2>/dev/null && break; sleep 0.1; done
  url=$(sed -n 's/^gongji listening on //p' "$work/serve-$label.out")
  for _ in $(seq 1 300); do curl -s "$url/metrics" | grep -q '^gongji_primary 1' && break; sleep 0.1; done
  curl -s -H 'Authorization: Bearer op-secret' -H 'Content-Type: application/json' "$url/v1/institutions" \
    -d '{"request_id":"bench-inst","institution_id":"H21010000001","region":"210100","kind":"pharmacy","name":"Bench pharmacy"}' >/dev/null
  "$bin" bench --url "$url" --persons "$HTTP_PERSONS" --ops "$HTTP_OPS" --clients 64 > "$out/http-$label.json"
  "$bin" bench --url "$url" --persons "$HTTP_PERSONS" --ops "$HTTP_BULK_OPS" --batch 8192 --clients 2 \
    > "$out/http_bulk-$label.json"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
}

for mode in off on; do
  replicate=(); [ "$mode" = on ] && replicate=(--replicate "$nats")
  echo "== in process, the mix, replication $mode"
  "$bin" bench --persons "$PERSONS" --ops "$OPS" --clients 64 --as-of-lookups 1000 --dir "$work" "${replicate[@]}" \
    > "$out/inproc-$mode.json"
  echo "== in process, batches of 8,190, replication $mode"
  "$bin" bench --persons "$PERSONS" --ops "$BULK_OPS" --batch 8190 --clients 2 --as-of-lookups 1000 --dir "$work" \
    "${replicate[@]}" > "$out/bulk-$mode.json"

  echo "== over HTTP, replication $mode"
  start_nats
  http_runs 1 "$mode" "$mode"
done
for mode in off on; do
  echo "== over HTTP on a 3-node cluster (R3), replication $mode"
  start_cluster
  http_runs 3 "r3-$mode" "$mode"
done

python3 - "$out" docs/benchmarks.md <<'PY'
import json, sys, datetime
out, doc = sys.argv[1], sys.argv[2]
def load(name): return json.load(open(f"{out}/{name}.json"))
rows = []
for label, name, key, rate in [
    ("in process, single requests (the mix, 64 clients)", "inproc", "mix", "events_per_second"),
    ("in process, batches of 8,190 settlements", "bulk", "bulk", "events_per_second"),
    ("HTTP, single requests (the mix, 64 connections)", "http", "mix", "requests_per_second"),
    ("HTTP, `POST /v1/batch` of 8,192 settlements", "http_bulk", "bulk", "settlements_per_second"),
    ("HTTP on a 3-node cluster, R3: single requests", "http-r3", "mix", "requests_per_second"),
    ("HTTP on a 3-node cluster, R3: `POST /v1/batch`", "http_bulk-r3", "bulk", "settlements_per_second"),
]:
    off, on = load(f"{name}-off")[key], load(f"{name}-on")[key]
    unit = rate.replace("_per_second", "/s")
    rows.append(f"| {label} | {off[rate]:,.0f} {unit} | {on[rate]:,.0f} {unit} | {on[rate] / off[rate]:.2f}× "
                f"| {off['latency_ms']['p99']:.1f} ms | {on['latency_ms']['p99']:.1f} ms |")
section = "\n".join([
    "<!-- replication -->",
    "## Replication: `--replicate` on and off",
    "",
    f"`bash scripts/bench-replication.sh` on {datetime.date.today()}: the same runs one after the other, "
    "without and with the log replicated through JetStream (one `nats-server`, R1, on loopback; the last two "
    "rows on a 3-node cluster on the same machine, the streams R3), on this 2-core machine. With replication every group commit is also appended to `GONGJI_LOG`, and answered "
    "only once JetStream has acknowledged it. Target: single requests with replication at least 0.7× "
    "the figure without.",
    "",
    "| run | off | on | on / off | p99 off | p99 on |",
    "|---|---|---|---|---|---|",
    *rows,
    "<!-- /replication -->",
])
text = open(doc).read()
start, end = text.find("<!-- replication -->"), text.find("<!-- /replication -->")
if start >= 0 and end >= 0:
    text = text[:start] + section + text[end + len("<!-- /replication -->"):]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(doc, "w").write(text)
print(section)
PY
