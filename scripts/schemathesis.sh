#!/usr/bin/env bash
# Property-based API check of the real service against its own OpenAPI document.
#
# Builds the release binary, installs a pinned schemathesis from PyPI into
# .tools/venv-schemathesis, starts `gongji serve` on a free port with a temporary data
# directory, the example tokens and rules, and runs a short, bounded schemathesis run against
# /openapi.json: with the operator token over every operation, then with the channel and the
# institution tokens over theirs. Checks: no 5xx, every status documented, content
# types and bodies conform to the documented schemas. Exits non-zero on any failure.
#
# Environment: SCHEMATHESIS_MAX_EXAMPLES (default 15), SCHEMATHESIS_MAX_TIME (seconds of
# schemathesis' budget over its three runs, default 160), SCHEMATHESIS_SEED (default 1), SKIP_BUILD=1 to use
# an existing target/release/gongji.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

SCHEMATHESIS_VERSION="4.32.5"
VENV="$ROOT/.tools/venv-schemathesis"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-15}"
MAX_TIME="${SCHEMATHESIS_MAX_TIME:-160}"
SEED="${SCHEMATHESIS_SEED:-1}"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release --locked -p gongji --bin gongji
fi
BINARY="$ROOT/target/release/gongji"

if [[ ! -x "$VENV/bin/schemathesis" ]] \
    || [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != *"$SCHEMATHESIS_VERSION"* ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$VENV/bin/schemathesis" --version

WORK="$(mktemp -d)"
SERVICE_PID=""
cleanup() {
    if [[ -n "$SERVICE_PID" ]] && kill -0 "$SERVICE_PID" 2>/dev/null; then
        kill -TERM "$SERVICE_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$SERVICE_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVICE_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# The service, on a free port; its first stdout line names the bound address.
mkfifo "$WORK/stdout"
GONGJI_LOG="${GONGJI_LOG:-warn}" "$BINARY" serve \
    --data "$WORK/data" \
    --listen 127.0.0.1:0 \
    --tokens deploy/examples/tokens.json \
    --rules deploy/examples/rules.json \
    >"$WORK/stdout" 2>"$WORK/stderr" &
SERVICE_PID=$!
exec 3<"$WORK/stdout"
if ! read -r -t 30 FIRST_LINE <&3; then
    echo "schemathesis.sh: gongji did not print its address" >&2
    cat "$WORK/stderr" >&2
    exit 1
fi
# Keep draining stdout so the service never blocks on a full pipe.
cat <&3 >/dev/null &
BASE="${FIRST_LINE#gongji listening on }"
if [[ "$BASE" == "$FIRST_LINE" ]]; then
    echo "schemathesis.sh: unexpected first line: $FIRST_LINE" >&2
    exit 1
fi
echo "gongji (pid $SERVICE_PID) at $BASE"

token_of() {
    python3 -c 'import json,sys; print(next(t["token"] for t in json.load(open(sys.argv[1]))["tokens"] if t["role"] == sys.argv[2]))' \
        deploy/examples/tokens.json "$1"
}
OPERATOR_TOKEN="$(token_of operator)"
CHANNEL_TOKEN="$(token_of channel)"
INSTITUTION_TOKEN="$(token_of institution)"

# A little data for the document's examples to land on: the institution of the example
# institution token, an employee P1 with money, a resident C1, and the binding B1 between them.
seed() {
    local token="$1" method="$2" path="$3" body="$4" status
    status="$(curl -sS -o "$WORK/seed.out" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' --data "$body" "$BASE$path")"
    if [[ "$status" != 2* ]]; then
        echo "schemathesis.sh: seeding $method $path answered $status: $(cat "$WORK/seed.out")" >&2
        exit 1
    fi
}
seed "$OPERATOR_TOKEN" POST /v1/institutions \
    '{"request_id": "seed-inst", "institution_id": "H21010000001", "region": "210100", "kind": "hospital", "name": "Hospital One"}'
seed "$OPERATOR_TOKEN" POST /v1/persons \
    '{"request_id": "seed-P1", "person_id": "P1", "region": "210100", "scheme": "employee"}'
seed "$OPERATOR_TOKEN" POST /v1/persons \
    '{"request_id": "seed-C1", "person_id": "C1", "region": "210100", "scheme": "resident"}'
seed "$OPERATOR_TOKEN" POST /v1/accounts/P1/credits \
    '{"request_id": "seed-credit", "amount": "5000", "bucket": "historic", "reason": "allocation"}'
seed "$CHANNEL_TOKEN" POST /v1/bindings \
    '{"request_id": "seed-bind", "authorizer": "P1", "beneficiary": "C1", "relation": "child"}'

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
STATUS=0
# One bounded run per role: the operator over every operation, then the channel and the
# institution over their own operations (the operator only ever gets 403 there).
run() {
    local name="$1" token="$2" budget="$3"
    shift 3
    echo "== schemathesis as $name (${budget}s) =="
    set +e
    timeout --kill-after=10 $((budget + 30)) "$VENV/bin/schemathesis" run "$BASE/openapi.json" \
        --header "Authorization: Bearer $token" \
        --checks "$CHECKS" \
        --phases examples,coverage,fuzzing \
        --max-examples "$MAX_EXAMPLES" \
        --max-time "$budget" \
        --seed "$SEED" \
        --workers 1 \
        --request-timeout 10 \
        --no-color \
        "$@"
    local code=$?
    set -e
    if [[ $code -ne 0 ]]; then
        echo "schemathesis.sh: the $name run failed (exit $code)" >&2
        STATUS=1
    fi
}
run operator "$OPERATOR_TOKEN" "$((MAX_TIME / 2))"
run channel "$CHANNEL_TOKEN" "$((MAX_TIME / 4))" \
    --include-operation-id-regex '^(requestBinding|revokeBinding|authorize|payPremium|getBindings|getPerson|getAccount)$'
run institution "$INSTITUTION_TOKEN" "$((MAX_TIME / 4))" --include-tag settlements

if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
    echo "schemathesis.sh: gongji died during the run" >&2
    cat "$WORK/stderr" >&2
    STATUS=1
fi
if grep -q "panicked" "$WORK/stderr"; then
    echo "schemathesis.sh: gongji panicked:" >&2
    grep -A3 "panicked" "$WORK/stderr" >&2
    STATUS=1
fi
if [[ $STATUS -eq 0 ]]; then
    echo "schemathesis.sh: passed"
else
    echo "schemathesis.sh: FAILED (exit $STATUS)" >&2
fi
exit "$STATUS"
