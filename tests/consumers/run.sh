#!/usr/bin/env bash
# README's "Using ws in your project", run as written: each "### " part of
# that section in a fresh directory with app.cpp, its ```meson block saved as
# meson.build, its ```cmake block as CMakeLists.txt, its ```sh blocks run in
# order. HOME is a scratch directory holding a copy of this checkout at
# ~/ws, so "~/.local" is scratch too. Then what the commands must have done:
# the install built nothing but what it installs, a parent project builds
# none of ws's tests, and a wrong C++ standard fails with our message first.
set -euo pipefail
src=${SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
for tool in cmake pkg-config g++ meson ninja; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIPPED: $tool is not installed (apt-get install cmake pkg-config)"
    [ -n "${CI:-}" ] && exit 1
    exit 77
  fi
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home
mkdir -p "$HOME/ws"
(cd "$src" && git ls-files -co --exclude-standard | tar -cf - -T -) |
  tar -C "$HOME/ws" -xf -

# Splits the section into parts/N/{title,meson.build,CMakeLists.txt,N.sh}.
awk -v out="$work/parts" '
  /^## / { inside = ($0 == "## Using ws in your project"); next }
  !inside { next }
  /^### / { part++; dir = out "/" part; system("mkdir -p " dir);
            print substr($0, 5) > (dir "/title"); block = 0; next }
  /^```/ && !fence { fence = 1; kind = substr($0, 4); block++;
                     file = "";
                     if (kind == "meson") file = "meson.build";
                     if (kind == "cmake") file = "CMakeLists.txt";
                     if (kind == "sh") file = block ".sh";
                     next }
  /^```/ && fence { fence = 0; next }
  fence && part && file != "" { print > (dir "/" file) }
' "$src/README.md"

parts=$(ls "$work/parts" | sort -n)
[ -n "$parts" ] || { echo "FAIL: no parts in README's section"; exit 1; }
for n in $parts; do
  dir=$work/parts/$n
  echo "=== $(cat "$dir/title")"
  cp "$src/tests/consumers/app.cpp" "$dir/"
  for script in $(ls "$dir" | grep '\.sh$' | sort -n); do
    sed 's/^/  $ /' "$dir/$script"
    (cd "$dir" && bash -euo pipefail "$script") ||
      { echo "FAIL: part $n, block $script"; exit 1; }
  done
done

fail() { echo "FAIL: $*"; exit 1; }
# Every part built and ran app: each printed its echo (checked by app's
# exit status above); now what the commands must not have done.
targets=$(meson introspect --targets "$HOME/ws/build-install" |
  python3 -c 'import json,sys; print(" ".join(t["name"] for t in json.load(sys.stdin)))')
[ "$targets" = "ws" ] || fail "installing built more than the library: $targets"
for n in $parts; do
  if [ -f "$work/parts/$n/meson.build" ]; then
    # ("No tests defined." exits 1.)
    listed=$(cd "$work/parts/$n" && meson test -C build --list 2>&1 || true)
    ! grep -q '^ws / ' <<<"$listed" || fail "a parent project lists ws's tests"
    [ ! -e "$work/parts/$n/build/subprojects/ws/tests" ] ||
      fail "a parent project configures ws's tests"
  fi
done

# A wrong standard: our message is the first error.
cd "$work"
printf '#include <ws/websocket.hpp>\nint main() {}\n' >std.cpp
first_error() { "$@" -fsyntax-only -I "$src/include" std.cpp 2>&1 |
  grep -m1 'error' || true; }
e=$(first_error g++ -std=c++14)
grep -q 'ws needs C++17' <<<"$e" || fail "C++14: first error was: $e"
e=$(first_error g++ -std=c++20)
grep -q 'does not compile as C++20 with g++' <<<"$e" ||
  fail "g++ C++20: first error was: $e"
if command -v clang++ >/dev/null; then
  clang++ -std=c++20 -fsyntax-only -I "$src/include" std.cpp ||
    fail "clang++ -std=c++20 should build the header-only library"
fi
# With separate compilation, a user's file needs no more than C++17's
# library, and g++'s C++20 is fine.
g++ -std=c++20 -DWS_SEPARATE_COMPILATION -fsyntax-only -I "$src/include" \
  std.cpp || fail "g++ -std=c++20 with WS_SEPARATE_COMPILATION"
# ... and its preprocessed API holds no file of Asio, websocketpp or OpenSSL.
if g++ -std=c++17 -DWS_SEPARATE_COMPILATION -E -I "$src/include" std.cpp |
  grep -qE '^# [0-9]+ "[^"]*(asio|websocketpp|openssl)'; then
  fail "WS_SEPARATE_COMPILATION still includes Asio, websocketpp or OpenSSL"
fi
echo "PASS: $(echo $parts | wc -w) ways, and the standards' messages"
