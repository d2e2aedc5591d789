#!/usr/bin/env bash
# The test command: every test of the workspace, against a real sled on disk and, where a
# test needs one, a real nats-server from .tools/bin (installed by scripts/install-nats.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-nats.sh >/dev/null
export GONGJI_NATS_SERVER="${GONGJI_NATS_SERVER:-$PWD/.tools/bin/nats-server}"
cargo test --workspace --locked --release "$@"
