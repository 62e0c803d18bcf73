#!/usr/bin/env bash
# Make sure Debian's chromium is installed at /usr/bin/chromium for the browser tests (test/browser/).
# Never downloads a browser any other way (no `playwright install`): the tests drive this system chromium with
# playwright-core. Safe to run repeatedly and concurrently: apt waits for the dpkg lock instead of failing,
# so a background `apt-get install chromium` that is already running is simply waited for.
#
#   scripts/setup-chromium.sh          exit 0 when /usr/bin/chromium is there (installing it if needed)
#   CHROMIUM=/path scripts/setup-chromium.sh    check another binary instead
set -euo pipefail

BIN=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$BIN" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-chromium: $BIN is missing and apt-get is not available; install Debian's chromium package (or set CHROMIUM=/path/to/chromium)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-chromium: $BIN is missing; install it as root: sudo apt-get install -y chromium" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
LOCK_WAIT=(-o DPkg::Lock::Timeout=900)
echo "setup-chromium: installing Debian chromium (apt-get install -y chromium)…" >&2
if ! apt-get "${LOCK_WAIT[@]}" install -y -q chromium >&2; then
  # A fresh machine may have no package lists yet.
  apt-get "${LOCK_WAIT[@]}" update -q >&2
  apt-get "${LOCK_WAIT[@]}" install -y -q chromium >&2
fi

if [ ! -x "$BIN" ]; then
  echo "setup-chromium: apt-get finished but $BIN is still missing" >&2
  exit 1
fi
echo "setup-chromium: $("$BIN" --version 2>/dev/null | head -n 1)" >&2
