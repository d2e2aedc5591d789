#!/usr/bin/env bash
# The test command: every test of the workspace, against a real sled on disk and, where a
# test needs one, a real nats-server from .tools/bin (installed by scripts/install-nats.sh),
# promtool, and chromium with chromedriver for the console's browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-nats.sh >/dev/null
# promtool (Debian's prometheus package) checks /metrics in tests/outbox.rs.
command -v promtool >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null
# chromium and chromedriver (Debian's) for the console's browser tests in tests/console.rs.
bash scripts/install-chromium.sh >/dev/null
export GONGJI_NATS_SERVER="${GONGJI_NATS_SERVER:-$PWD/.tools/bin/nats-server}"
cargo test --workspace --locked --release "$@"
