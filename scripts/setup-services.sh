#!/usr/bin/env bash
# Make sure the PostgreSQL 15 and Redis 7 server binaries from Debian are installed, for the tests that run the
# Postgres journal and the BullMQ scheduler/workers (test/scale/). Installs only; it never starts a server: the
# tests start their own instances on loopback ports in a temporary directory and stop them by pid
# (test/scale/services.ts). Safe to run repeatedly and concurrently (apt waits for the dpkg lock).
#
#   scripts/setup-services.sh     exit 0 when initdb/pg_ctl and redis-server are there (installing them if needed)
set -euo pipefail

have_pg() { ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; }
have_redis() { command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; }

if have_pg && have_redis; then
  exit 0
fi

missing=()
have_pg || missing+=(postgresql)
have_redis || missing+=(redis-server)

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-services: ${missing[*]} missing and apt-get is not available; install PostgreSQL 15 and Redis 7" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-services: ${missing[*]} missing; install as root: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
LOCK_WAIT=(-o DPkg::Lock::Timeout=900)
echo "setup-services: installing ${missing[*]} (apt-get install -y)…" >&2
# policy-rc.d 101: Debian's maintainer scripts must not start the packaged services (tests run their own).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
if ! apt-get "${LOCK_WAIT[@]}" install -y -q "${missing[@]}" >&2; then
  apt-get "${LOCK_WAIT[@]}" update -q >&2
  apt-get "${LOCK_WAIT[@]}" install -y -q "${missing[@]}" >&2
fi

if ! have_pg || ! have_redis; then
  echo "setup-services: apt-get finished but the servers are still missing" >&2
  exit 1
fi
echo "setup-services: $(ls -d /usr/lib/postgresql/*/bin | head -n 1), $(redis-server --version | head -n 1)" >&2
