#!/usr/bin/env bash
# Installs Debian's chromium for the browser test (internal/e2e/browser_test.go)
# when /usr/bin/chromium is missing. Progress goes to stderr; the last line of
# stdout is the export to evaluate:
#
#   exports=$(bash .ci/chromium.sh) && eval "$exports"
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "chromium.sh: not root and no sudo: install Debian's chromium package yourself" >&2
      exit 1
    fi
  fi
  echo "chromium.sh: installing Debian's chromium (apt-get)..." >&2
  $SUDO apt-get update >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium >&2
fi
/usr/bin/chromium --version >&2 || true
echo "export CHROMIUM=/usr/bin/chromium"
