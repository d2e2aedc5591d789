#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver when either is missing: the console's browser
# tests (tests/console.rs) drive a headless chromium through chromedriver. With a Chinese font
# (WenQuanYi Zen Hei), so that their screenshots show the console's Chinese.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null && [ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; then
  exit 0
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver fonts-wqy-zenhei
