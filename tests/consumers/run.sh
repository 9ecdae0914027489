#!/usr/bin/env bash
# docs/using.md ("Using ws in your project"), run as written: each "## "
# part of it in a fresh directory with app.cpp, its ```meson block saved as
# meson.build, its ```cmake block as CMakeLists.txt, its ```sh blocks run in
# order. HOME is a scratch directory holding a copy of this checkout at
# ~/ws, so "~/.local" is scratch too. Then what the commands must have done:
# the install built nothing but what it installs, a parent project builds
# none of ws's tests, and a wrong C++ standard fails with our message first.
set -euo pipefail
src=${SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
for tool in cmake pkg-config g++ meson ninja x86_64-w64-mingw32-g++-posix wine; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIPPED: $tool is not installed (README's block 2 installs it)"
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
# A git repository, so that FetchContent can clone it by a file:// URL.
git -C "$HOME/ws" init -q -b main
git -C "$HOME/ws" add -A
git -C "$HOME/ws" -c user.name=ws -c user.email=ws@localhost commit -q -m ws

# Splits the page into parts/N/{title,meson.build,CMakeLists.txt,N.sh}.
awk -v out="$work/parts" '
  /^## / { part++; dir = out "/" part; system("mkdir -p " dir);
            print substr($0, 4) > (dir "/title"); block = 0; next }
  /^```/ && !fence { fence = 1; kind = substr($0, 4); block++;
                     file = "";
                     if (kind == "meson") file = "meson.build";
                     if (kind == "cmake") file = "CMakeLists.txt";
                     if (kind == "sh") file = block ".sh";
                     next }
  /^```/ && fence { fence = 0; next }
  fence && part && file != "" { print > (dir "/" file) }
' "$src/docs/using.md"

parts=$(ls "$work/parts" | sort -n)
[ -n "$parts" ] || { echo "FAIL: no parts in docs/using.md"; exit 1; }
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

# The standards, header-only: for g++ and clang++, in C++17, C++20 and
# C++23, a program compiles with ws (at -Wall -Wextra -Wpedantic -Werror:
# our headers say nothing) exactly where websocketpp alone compiles, and
# elsewhere its first error is ours. Both with the flags meson's check wrote
# into pkg-config's ws (part 2) and on a plain compiler line, which falls
# back on what is known of websocketpp 0.8.2. What websocketpp compiles in
# is itself checked against what the release is known to ship: on Debian 12
# g++ 12 cannot build it as C++20; on Debian 13 g++ 14 can, and clang can on
# both.
cd "$work"
printf '#include <ws/websocket.hpp>\nint main() {}\n' >std.cpp
cat >raw.cpp <<'CPP'
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>
#include <websocketpp/server.hpp>
int main() {
  websocketpp::server<websocketpp::config::asio> server;
  websocketpp::client<websocketpp::config::asio_client> client;
}
CPP
first_error() { "$@" -fsyntax-only std.cpp 2>&1 | grep -m1 'error' || true; }
e=$(first_error g++ -std=c++14 -I "$src/include")
grep -q 'ws needs C++17' <<<"$e" || fail "C++14: first error was: $e"
release=$(cut -d. -f1 /etc/debian_version 2>/dev/null || true)
pc_flags=$(PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig pkg-config --cflags ws)
# standards CXX: each standard with one compiler; the two compilers run at
# once. Prints "CXX C++N: header-only yes|no", or FAIL and exits 1.
standards() {
  local cxx=$1 std flag can known how flags out ok e
  for std in 17 20 23; do
    flag=-std=c++$std
    "$cxx" $flag -fsyntax-only -x c++ /dev/null 2>/dev/null || flag=-std=c++2b
    if "$cxx" $flag -DASIO_STANDALONE -fsyntax-only raw.cpp 2>/dev/null; then
      can=yes
    else
      can=no
    fi
    known=yes
    [ "$cxx" = g++ ] && [ "$release" = 12 ] && [ "$std" != 17 ] && known=no
    [ "$can" = "$known" ] || [ -z "$release" ] ||
      fail "$cxx C++$std: websocketpp compiles: $can; Debian $release: $known"
    # g++ also on a plain line: pkg-config's check was made with g++, so
    # clang++ falls back either way.
    for how in pkg-config plain; do
      [ $how = plain ] && [ "$cxx" != g++ ] && continue
      if [ $how = pkg-config ]; then flags=$pc_flags; else flags="-I $src/include"; fi
      # shellcheck disable=SC2086
      out=$("$cxx" $flag $flags -Wall -Wextra -Wpedantic -Werror -fsyntax-only \
        std.cpp 2>&1) && ok=yes || ok=no
      if [ "$can" = yes ]; then
        [ $ok = yes ] || fail "$cxx C++$std ($how) should compile: $out"
      else
        e=$(grep -m1 error <<<"$out" || true)
        grep -q 'websocketpp .*does not compile' <<<"$e" ||
          fail "$cxx C++$std ($how): first error was: $e"
      fi
    done
    echo "$cxx C++$std: header-only $can"
  done
}
standards g++ >gxx.log &
gxx=$!
if command -v clang++ >/dev/null; then
  standards clang++ >clang.log &
  wait $! || { cat clang.log; exit 1; }
  cat clang.log
fi
wait $gxx || { cat gxx.log; exit 1; }
cat gxx.log
gxx20=$(sed -n 's/^g++ C++20: header-only //p' gxx.log)
# A CMake project in C++20 (add_subdirectory): CMake's own check decides
# the same way.
sub=$(dirname "$(grep -l 'CMake, add_subdirectory' "$work"/parts/*/title)")
if out=$(cd "$sub" && cmake -S . -B build20 -DCMAKE_CXX_STANDARD=20 >/dev/null &&
  cmake --build build20 2>&1); then ok=yes; else ok=no; fi
[ $ok = "$gxx20" ] || fail "CMake C++20: built $ok, websocketpp compiles $gxx20: $out"
[ $ok = yes ] || grep -m1 'error' <<<"$out" | grep -q 'websocketpp .*does not compile' ||
  fail "CMake C++20: first error was: $(grep -m1 error <<<"$out")"
# ... and ws::compiled builds its engine as C++17 under a C++20 program.
(cd "$sub" && sed -i 's/ws::ws)/ws::compiled)/' CMakeLists.txt &&
  cmake -S . -B build20 >/dev/null && cmake --build build20 >/dev/null &&
  build20/app) || fail "CMake C++20 with ws::compiled"
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
