// ASCII case folding for HTTP names, and websocketpp's header map made to use
// it.
// SPDX-License-Identifier: MIT
#pragma once

#include <string>

namespace ws::detail {

/// HTTP's case-insensitivity is ASCII's (RFC 9110 5.1), whatever the locale.
constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

/// Header names and origins compare without regard to ASCII case.
inline std::string ascii_lower(std::string s) {
  for (auto &c : s)
    c = ascii_lower(c);
  return s;
}

} // namespace ws::detail

// websocketpp's header map (http::parser::header_list) orders names with
// utility::ci_less, whose unqualified `tolower (c1)` finds the first tolower
// on the way out of namespace websocketpp::utility: without this one, libc's,
// through the PLT and the locale, once per character per comparison. A
// handshake looks names up a dozen times, and that was a fifth of the
// server's own time setting a connection up. Declared before websocketpp's
// headers (each ws header that includes one includes this first), ci_less
// finds this one. For ASCII it folds as libc's does in every locale; where
// they differ (bytes over 127 in a single-byte locale) HTTP wants this one.
// A file that includes websocketpp before ws keeps libc's: slower, and the
// same for every name a handshake can carry.
namespace websocketpp::utility {
constexpr int tolower(unsigned char c) {
  return static_cast<unsigned char>(
      ws::detail::ascii_lower(static_cast<char>(c)));
}
} // namespace websocketpp::utility
