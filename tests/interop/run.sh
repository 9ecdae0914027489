#!/bin/sh
# Runs one interop test (the command given) with the Node peers installed.
# Without node and npm it reports itself skipped (exit 77), never passed.
# SPDX-License-Identifier: MIT
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIPPED: $*: node and npm are not installed (apt-get install nodejs npm)"
  exit 77
fi
if [ -n "${NEEDS_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  echo "SKIPPED: $*: /usr/bin/chromium is not installed (apt-get install chromium)"
  exit 77
fi
here=$(dirname "$0")
# npm ci: exactly the versions in package-lock.json. Once per build tree.
stamp="${INTEROP_STAMP:?set by meson}"
if [ ! "$stamp" -nt "$here/package-lock.json" ]; then
  if ! (cd "$here" && npm ci --no-audit --no-fund --silent); then
    # CI must run these tests; elsewhere a registry out of reach (a sandbox,
    # a proxy's CA that npm does not trust) skips them, saying so.
    [ -n "${CI:-}" ] && exit 1
    echo "SKIPPED: $*: npm ci could not install the Node packages" \
      "(is the npm registry reachable?)"
    exit 77
  fi
  touch "$stamp"
fi
exec "$@"
