#!/usr/bin/env bash
# Create .venv and install tickertape into it. Idempotent: a second run is quick.
#   scripts/setup.sh          the server
#   scripts/setup.sh --test   the server, the test and dev tools, and (as root) the
#                             Debian packages the tests drive: chromium, postgresql, nginx
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
  "${pip[@]}" -e '.[test,dev,postgres]'
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    [ -x /usr/sbin/nginx ] || missing+=(nginx)
    if [ ${#missing[@]} -gt 0 ]; then
      echo "setup: apt-get install ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      # The tests start their own servers on free ports. Without a policy-rc.d (container
      # images ship one), the packages' scripts would start system daemons: nginx on :80,
      # a PostgreSQL cluster. Forbid that for this install only.
      policy=/usr/sbin/policy-rc.d
      if [ ! -e $policy ]; then
        printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
      fi
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
  fi
else
  echo "setup: installing tickertape"
  "${pip[@]}" -e .
fi
echo "setup: done"
