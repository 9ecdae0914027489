#!/bin/sh
# A user's strict warnings stay quiet in ws: every public header, the engine
# (<ws/src.hpp>, separately compiled) and the examples that instantiate it
# compile with -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast
# (beside -Wall -Wextra -Wpedantic) and say nothing about a file of
# include/ws/. Asio's and websocketpp's own warnings are theirs (system
# headers). Usage: strict_headers.sh COMPILER...; SOURCE_ROOT and WS_ARGS
# come from meson.
# SPDX-License-Identifier: MIT
set -u
root="$SOURCE_ROOT"
dir=$(mktemp -d /tmp/ws-strict-XXXXXX)
trap 'rm -rf "$dir"' EXIT
strict="-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast"
n=0
# Each unit is NAME:STD:FLAG:FILE; all compile at once (each takes seconds).
units=""
for h in "$root"/include/ws/*.hpp; do
  name=$(basename "$h" .hpp)
  std=c++17 sep=""
  case $name in
    stream | task) std=c++20 sep=-DWS_SEPARATE_COMPILATION ;;
    src) sep=-DWS_SEPARATE_COMPILATION ;;
    redis) pkg-config --exists hiredis 2>/dev/null || continue ;;
  esac
  printf '#include <ws/%s.hpp>\n' "$name" >"$dir/$name.cpp"
  units="$units $name:$std:$sep:$dir/$name.cpp"
done
for ex in chat_server chat_client echo_server wscat; do
  units="$units $ex:c++17::$root/examples/$ex.cpp"
done
for unit in $units; do
  IFS=: read -r name std sep file <<EOF2
$unit
EOF2
  # shellcheck disable=SC2086
  "$@" -std="$std" $sep $WS_ARGS -DWS_CHAT_PAGE='""' $strict -fsyntax-only \
    -I"$root/include" $(pkg-config --cflags hiredis 2>/dev/null) "$file" \
    >"$dir/$name.log" 2>&1 &
  n=$((n + 1))
done
wait
bad=0
for log in "$dir"/*.log; do
  if grep -q "include/ws/.*warning:\|error:" "$log"; then
    echo "== $(basename "$log" .log)"
    grep -A3 "include/ws/.*warning:\|error:" "$log" | head -40
    bad=$((bad + 1))
  fi
done
echo "$n units, $bad with a warning or error in ws"
[ "$bad" -eq 0 ]
