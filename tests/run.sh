#!/usr/bin/env bash
# The whole test suite: a plain build, the same under ASan+UBSan, the threaded
# tests under TSan, and a formatting check. Ends with "N passed, N failed"
# (one count per test program per build; a test whose peer, node or
# chromium, is missing counts as skipped) and exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
skipped=0
failures=()

# count BUILD_DIR LABEL: adds up the results meson wrote for the last run.
count() {
  local log="$1/meson-logs/testlog.json" p f
  if [ ! -s "$log" ]; then
    failed=$((failed + 1)); failures+=("$2: no test results"); return
  fi
  p=$(grep -c '"result": "OK"' "$log")
  f=$(grep -c '"result": "\(FAIL\|TIMEOUT\|ERROR\|UNEXPECTEDPASS\)"' "$log")
  passed=$((passed + p))
  skipped=$((skipped + $(grep -c '"result": "SKIP"' "$log")))
  failed=$((failed + f))
  [ "$f" -eq 0 ] || failures+=("$2: $f failed (see $log)")
}

# suite LABEL BUILD_DIR "SETUP_ARGS" [TEST...]: builds (only the programs
# the named tests need, if any are named) and runs the tests. With no test
# named, it runs all but the soak and the fuzzers (their own stages below).
# CXX picks the compiler for a new build directory.
suite() {
  local label="$1" dir="$2" args="$3"
  shift 3
  echo "== $label"
  if [ ! -d "$dir" ]; then
    # shellcheck disable=SC2086
    meson setup "$dir" $args >/dev/null || {
      failed=$((failed + 1)); failures+=("$label: meson setup failed"); return; }
  fi
  local targets=() select=("$@")
  [ $# -gt 0 ] || select=(--no-suite soak --no-suite fuzz)
  for t in "$@"; do
    case "$t" in
      fuzz_*) targets+=("tests/fuzz/$t") ;;
      strict) ;; # compiles by itself
      stream | stream-interop) targets+=(tests/test_stream) ;;
      *) targets+=(tests/test_ws) ;; # every area is in it (tests/meson.build)
    esac
  done
  # These tests run the example programs.
  case " $* " in *" chat "* | *" conformance "* | *" tools "* | *" redis "* | *" interop "* | *" browser "* | *" faults "* | *" soak "*)
    targets+=(examples/chat_server examples/chat_client examples/echo_server
      examples/wscat) ;;
  esac
  if ! ninja -C "$dir" "${targets[@]}"; then
    failed=$((failed + 1)); failures+=("$label: build failed"); return
  fi
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --no-rebuild --print-errorlogs \
    --num-processes "${TEST_PROCESSES:-2}" "${select[@]}"
  count "$dir" "$label"
}

suite "plain build" build ""
# Sanitizer builds at -O0: they compile five times faster than optimized.
suite "ASan+UBSan" build-asan \
  "--buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false" \
  constructor send close events server threads protocol conformance tools chat \
  tls redis interop browser limits faults failures failing opening flow lifetime \
  timers reconnect deflate topics proxy deadlinks stream stream-interop soak
# -Wno-tsan: Asio's fences are fine; TSan just cannot model them.
suite "TSan (threaded paths)" build-tsan \
  "--buildtype=debug -Db_sanitize=thread -Db_lundef=false -Dcpp_args=-Wno-tsan" \
  threads events server close faults failures failing opening flow lifetime timers \
  reconnect deflate topics deadlinks stream
# libFuzzer needs clang: the URL parser, the frame parser with our UTF-8 and
# close checks, and a server fed arbitrary bytes, each for FUZZ_SECONDS (60),
# the three at once (two cores: about 90 s); and the strict warnings test
# with clang (the plain build ran it with g++).
if command -v clang++ >/dev/null; then
  CXX=clang++ CC=clang TEST_PROCESSES=3 suite "libFuzzer (clang, ASan+UBSan)" \
    build-fuzz "-Doptimization=1 -Ddebug=true -Db_sanitize=address,undefined -Db_lundef=false" \
    fuzz_url fuzz_frames fuzz_server strict
else
  failed=$((failed + 1)); failures+=("libFuzzer: clang++ is not installed")
fi

# drive LABEL COMMAND...: one run of a Linux test program that drives
# Windows programs; counted by its exit status (77: skipped).
drive() {
  local label="$1"
  shift
  echo "== $label"
  "$@"
  case $? in
    0) passed=$((passed + 1)) ;;
    77) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)); failures+=("$label") ;;
  esac
}

# Windows: the mingw-w64 build (tests/cross/mingw64.txt), run under wine with
# one prefix for the run (wine's first start takes seconds). First the
# library's own cases built for Windows (tests/meson.build names the areas
# left out, and why); then the Linux build's tests drive the Windows
# programs: wscat and echo_server (tools), chat_server and chat_client
# (chat), and chat_client and wscat with Chromium's page, through the Linux
# chat_server and the Windows one.
if command -v x86_64-w64-mingw32-g++-posix >/dev/null; then
  export WINEPREFIX="$PWD/build-win.wine" WINEDEBUG=-all
  # Makes the prefix, then keeps one wine server, with wine's own services
  # started, for the whole stage. Without it, each program that found no
  # server started one with its services, and its server went when it
  # did: programs that start at once raced to start theirs (one stalled
  # for 25 s, or for good), and one that started as another's server was
  # going reached it dying ("wine client error: recvmsg: Connection reset
  # by peer", seen on a fresh Debian 12). The prefix's first server
  # lingers a few seconds, and -p starts nothing while one runs: -w waits
  # for it to go.
  tests/cross/wine cmd /c exit >/dev/null 2>&1
  tests/cross/wine --server -w >/dev/null 2>&1
  tests/cross/wine --server -p >/dev/null 2>&1
  tests/cross/wine cmd /c exit >/dev/null 2>&1 # its services, before the tests
  suite "Windows (mingw-w64, under wine)" build-win \
    "--cross-file tests/cross/mingw64.txt"
  if [ -x build-win/examples/wscat.exe ] && [ -x build/tests/test_ws ]; then
    win="$PWD/build-win/examples" linux="$PWD/build/examples"
    # A run that matches no test fails: Catch2 3 renamed the warning that
    # says so (as in tests/meson.build).
    no_tests=NoTests
    build/tests/test_ws --libidentify | grep -q '^version: *[3-9]\.' &&
      no_tests=UnmatchedTestSpec
    # The Windows programs first; the Linux ones where a test needs one.
    windows_env=(env EXE_WRAPPER="$PWD/tests/cross/wine"
      WSCAT="$win/wscat.exe" ECHO_SERVER="$win/echo_server.exe"
      CHAT_CLIENT="$win/chat_client.exe" CHAT_SERVER="$win/chat_server.exe"
      STREAM_CLIENT="$linux/stream_client"
      INTEROP_DIR="$PWD/tests/interop" INTEROP_STAMP="$PWD/build/tests/npm-ci.stamp")
    # ~[tls]: the Windows tools are built without TLS (Debian has no OpenSSL
    # for mingw-w64); those cases need it.
    drive "Windows wscat and echo_server (tools)" "${windows_env[@]}" \
      build/tests/test_ws --warn "$no_tests" --filenames-as-tags "[#test_tools]~[tls]"
    drive "Windows chat_server and chat_client (chat)" "${windows_env[@]}" \
      build/tests/test_ws --warn "$no_tests" --filenames-as-tags "[#test_chat]"
    browser_case="two Chromium tabs chat with a chat_client and wscat through chat_server"
    drive "Windows chat_client and wscat, Chromium, Linux chat_server" \
      "${windows_env[@]}" CHAT_SERVER="$linux/chat_server" NEEDS_CHROMIUM=1 \
      tests/interop/run.sh build/tests/test_ws --warn "$no_tests" "$browser_case"
    drive "Windows chat_server, chat_client and wscat, Chromium" \
      "${windows_env[@]}" NEEDS_CHROMIUM=1 \
      tests/interop/run.sh build/tests/test_ws --warn "$no_tests" "$browser_case"
  else
    failed=$((failed + 1)); failures+=("Windows: the programs did not build")
  fi
  tests/cross/wine --server -k >/dev/null 2>&1
else
  echo "== Windows: skipped (g++-mingw-w64-x86-64-posix is not installed)"
  skipped=$((skipped + 1))
fi

echo "== clang-format"
if command -v clang-format >/dev/null; then
  if clang-format --dry-run -Werror include/ws/*.hpp include/ws/*/*.hpp \
      examples/*.cpp tests/*.cpp tests/*.hpp tests/bench/*.cpp \
      tests/fuzz/*.cpp; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failures+=("clang-format: files need formatting")
  fi
else
  echo "clang-format: skipped (not installed)"
fi

for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
