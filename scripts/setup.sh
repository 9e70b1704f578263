#!/usr/bin/env bash
# Create .venv and install tickertape into it. Idempotent: a second run is quick.
#   scripts/setup.sh          the server
#   scripts/setup.sh --test   the server, the test and dev tools, and (as root) the
#                             Debian packages the tests drive: chromium, postgresql, nginx,
#                             redis-server
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1
python=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

# torch first and exactly: the CPU wheel. Any later requirement it satisfies adds nothing.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "setup: installing torch ${TORCH_VERSION:=2.13.0}"
  "${pip[@]}" "torch==${TORCH_VERSION}"
fi

if [ $want_test = 1 ]; then
  echo "setup: installing tickertape with test and dev extras"
  "${pip[@]}" -e '.[test,dev,postgres,redis]'
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    [ -x /usr/sbin/nginx ] || missing+=(nginx)
    [ -x /usr/bin/redis-server ] || missing+=(redis-server)
    if [ ${#missing[@]} -gt 0 ]; then
      echo "setup: apt-get install ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      # The tests start their own servers on free ports. Without a policy-rc.d (container
      # images ship one), the packages' scripts would start system daemons: nginx on :80,
      # a PostgreSQL cluster, redis-server on :6379. Forbid that for this install only.
      policy=/usr/sbin/policy-rc.d
      if [ ! -e $policy ]; then
        printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
      fi
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
  fi
  # axe-core for the accessibility test (tests/browser/test_accessibility.py), pinned,
  # into a gitignored folder; nothing of it is served or shipped.
  AXE_VERSION=${AXE_VERSION:-4.14.1}
  if [ ! -f .test-tools/node_modules/axe-core/axe.min.js ] \
      || ! grep -q "\"version\": \"${AXE_VERSION}\"" .test-tools/node_modules/axe-core/package.json; then
    if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "setup: apt-get install npm"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
    fi
    echo "setup: npm install axe-core@${AXE_VERSION}"
    npm install --silent --no-save --no-package-lock --no-audit --no-fund \
      --prefix .test-tools "axe-core@${AXE_VERSION}"
  fi
else
  echo "setup: installing tickertape"
  "${pip[@]}" -e .
fi
echo "setup: done"
