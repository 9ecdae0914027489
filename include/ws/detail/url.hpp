// The WebSocket constructor's URL steps (WHATWG URL parsing, cut down to the
// four special schemes a WebSocket accepts).
// SPDX-License-Identifier: MIT
#pragma once

#include "../errors.hpp"
#include "config.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ws::detail {

struct Url {
  std::string scheme;   // "ws" or "wss"
  std::string userinfo; // kept in href only; never sent
  std::string host;     // serialized: lower case, IPv4 dotted, IPv6 [..]
  int port = -1;        // -1: the scheme's default
  std::string path;     // starts with '/'
  std::string query;    // without '?'; has_query tells "?" from no query
  bool has_query = false;
  std::string href; // what WebSocket.url returns

  std::uint16_t effective_port() const {
    return port >= 0 ? static_cast<std::uint16_t>(port)
                     : (scheme == "wss" ? 443 : 80);
  }
  /// The form websocketpp's own URI parser takes: always an explicit port.
  std::string for_websocketpp() const {
    return scheme + "://" + host + ":" + std::to_string(effective_port()) +
           path + (has_query ? "?" + query : "");
  }
};

inline bool is_ascii_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
inline bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

/// WHATWG percent-encode: `in_set` decides which printable ASCII characters
/// are encoded; C0 controls and non-ASCII bytes always are.
template <class InSet>
std::string percent_encode(const std::string &s, InSet in_set) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c > 0x7E || in_set(ch)) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

inline int hex_value(char c) {
  if (is_ascii_digit(c))
    return c - '0';
  c = ascii_lower(c);
  return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

inline std::string percent_decode(const std::string &s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
        hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

[[noreturn]] inline void invalid_url(const std::string &input,
                                     const std::string &why) {
  throw SyntaxError("Failed to construct 'WebSocket': The URL '" + input +
                    "' is invalid: " + why);
}

/// WHATWG IPv4 number parser: decimal, 0x hex or 0-prefixed octal.
inline bool parse_ipv4_number(std::string s, std::uint64_t &out) {
  int radix = 10;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    radix = 16;
    s = s.substr(2);
  } else if (s.size() >= 2 && s[0] == '0') {
    radix = 8;
    s = s.substr(1);
  }
  out = 0;
  for (char c : s) {
    int v = hex_value(c);
    if (v < 0 || v >= radix)
      return false;
    out =
        out * static_cast<std::uint64_t>(radix) + static_cast<std::uint64_t>(v);
    if (out > 0xFFFFFFFFull * 256)
      return false; // far too large; saves overflow
  }
  return true;
}

/// WHATWG "ends in a number" + IPv4 parser. Returns false if `host` is not
/// an IPv4 address; throws if it looks like one but is invalid.
inline bool parse_ipv4(const std::string &input, const std::string &host,
                       std::string &out) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.') {
      parts.push_back(host.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() > 1 && parts.back().empty())
    parts.pop_back();
  const std::string &last = parts.back();
  bool all_digits = !last.empty();
  for (char c : last)
    all_digits = all_digits && is_ascii_digit(c);
  std::uint64_t ignored;
  bool hex_number = last.size() >= 2 && last[0] == '0' &&
                    (last[1] == 'x' || last[1] == 'X') &&
                    parse_ipv4_number(last, ignored);
  if (!all_digits && !hex_number)
    return false;
  if (parts.size() > 4)
    invalid_url(input, "bad IPv4 address");
  std::vector<std::uint64_t> numbers;
  for (const auto &p : parts) {
    std::uint64_t n;
    if (p.empty() || !parse_ipv4_number(p, n))
      invalid_url(input, "bad IPv4 address");
    numbers.push_back(n);
  }
  for (std::size_t i = 0; i + 1 < numbers.size(); ++i)
    if (numbers[i] > 255)
      invalid_url(input, "bad IPv4 address");
  if (numbers.back() >= (1ull << (8 * (5 - numbers.size()))))
    invalid_url(input, "bad IPv4 address");
  std::uint64_t ipv4 = numbers.back();
  for (std::size_t i = 0; i + 1 < numbers.size(); ++i)
    ipv4 += numbers[i] << (8 * (3 - i));
  out = std::to_string(ipv4 >> 24) + "." + std::to_string((ipv4 >> 16) & 255) +
        "." + std::to_string((ipv4 >> 8) & 255) + "." +
        std::to_string(ipv4 & 255);
  return true;
}

inline std::string parse_host(const std::string &input, std::string host) {
  if (host.empty())
    invalid_url(input, "the host is empty");
  if (host.front() == '[') {
    if (host.back() != ']')
      invalid_url(input, "unterminated IPv6 address");
    asio::error_code ec;
    auto v6 = asio::ip::make_address_v6(host.substr(1, host.size() - 2), ec);
    // Zone ids ("%eth0") are not part of a URL's IPv6 syntax.
    if (ec || v6.scope_id() != 0)
      invalid_url(input, "bad IPv6 address");
    return "[" + v6.to_string() + "]";
  }
  host = percent_decode(host);
  for (char &c : host) {
    unsigned char u = static_cast<unsigned char>(c);
    // No IDNA here: a browser would punycode a non-ASCII host; we refuse it.
    if (u >= 0x80)
      invalid_url(input, "non-ASCII host names are not supported; use "
                         "the punycode (xn--) form");
    static const std::string forbidden = " #%/:<>?@[\\]^|";
    if (u < 0x20 || u == 0x7F || forbidden.find(c) != std::string::npos)
      invalid_url(input, "forbidden character in the host");
    c = ascii_lower(c);
  }
  if (host.empty())
    invalid_url(input, "the host is empty");
  std::string ipv4;
  if (parse_ipv4(input, host, ipv4))
    return ipv4;
  return host;
}

/// Removes "." and ".." segments as the WHATWG path state does.
inline std::string normalize_path(const std::string &raw) {
  std::vector<std::string> segments;
  std::size_t start = 1; // raw starts with '/'
  auto lower = [](std::string s) {
    for (char &c : s)
      c = ascii_lower(c);
    return s;
  };
  for (std::size_t i = 1; i <= raw.size(); ++i) {
    if (i < raw.size() && raw[i] != '/')
      continue;
    std::string seg = raw.substr(start, i - start);
    std::string l = lower(seg);
    bool last = i == raw.size();
    if (l == ".." || l == ".%2e" || l == "%2e." || l == "%2e%2e") {
      if (!segments.empty())
        segments.pop_back();
      if (last)
        segments.emplace_back();
    } else if (l == "." || l == "%2e") {
      if (last)
        segments.emplace_back();
    } else {
      segments.push_back(seg);
    }
    start = i + 1;
  }
  std::string out;
  for (const auto &s : segments)
    out += "/" + s;
  return out.empty() ? "/" : out;
}

/// WebSocket constructor steps 1-5: parse, map http(s) to ws(s), refuse
/// other schemes and any fragment. Throws ws::SyntaxError.
inline Url parse_websocket_url(const std::string &input) {
  // Leading/trailing C0 controls and spaces go; tabs and newlines anywhere.
  std::size_t b = 0, e = input.size();
  while (b < e && static_cast<unsigned char>(input[b]) <= 0x20)
    ++b;
  while (e > b && static_cast<unsigned char>(input[e - 1]) <= 0x20)
    --e;
  std::string s;
  for (std::size_t i = b; i < e; ++i)
    if (input[i] != '\t' && input[i] != '\n' && input[i] != '\r')
      s += input[i];

  // Scheme state.
  std::size_t colon = 0;
  if (s.empty() || !is_ascii_alpha(s[0]))
    invalid_url(input, "a WebSocket URL must be absolute");
  while (colon < s.size() &&
         (is_ascii_alpha(s[colon]) || is_ascii_digit(s[colon]) ||
          s[colon] == '+' || s[colon] == '-' || s[colon] == '.'))
    ++colon;
  if (colon == s.size() || s[colon] != ':')
    invalid_url(input, "a WebSocket URL must be absolute");
  Url url;
  for (std::size_t i = 0; i < colon; ++i)
    url.scheme += ascii_lower(s[i]);
  // Step 3-4: http and https map to ws and wss; anything else is refused.
  if (url.scheme == "http")
    url.scheme = "ws";
  else if (url.scheme == "https")
    url.scheme = "wss";
  else if (url.scheme != "ws" && url.scheme != "wss")
    throw SyntaxError("Failed to construct 'WebSocket': The URL's scheme "
                      "must be either 'http', 'https', 'ws', or 'wss'. '" +
                      url.scheme + "' is not allowed.");

  // Special schemes ignore any run of slashes and backslashes here.
  std::size_t p = colon + 1;
  while (p < s.size() && (s[p] == '/' || s[p] == '\\'))
    ++p;
  std::size_t auth_end = s.find_first_of("/\\?#", p);
  if (auth_end == std::string::npos)
    auth_end = s.size();
  std::string authority = s.substr(p, auth_end - p);
  std::size_t at = authority.rfind('@');
  if (at != std::string::npos) {
    url.userinfo = percent_encode(authority.substr(0, at), [](char c) {
      return std::string(" \"#<>?`{}/:;=@[\\]^|").find(c) != std::string::npos;
    });
    authority = authority.substr(at + 1);
  }
  std::string host = authority;
  std::size_t port_colon = authority.rfind(':');
  std::size_t bracket = authority.rfind(']');
  if (port_colon != std::string::npos &&
      (bracket == std::string::npos || port_colon > bracket)) {
    host = authority.substr(0, port_colon);
    std::string port = authority.substr(port_colon + 1);
    if (!port.empty()) {
      long value = 0;
      for (char c : port) {
        if (!is_ascii_digit(c))
          invalid_url(input, "the port is not a number");
        value = value * 10 + (c - '0');
        if (value > 65535)
          invalid_url(input, "the port is out of range");
      }
      url.port = static_cast<int>(value);
    }
  }
  url.host = parse_host(input, host);
  if (url.port == (url.scheme == "wss" ? 443 : 80))
    url.port = -1;

  // Path, query, fragment.
  std::size_t q = s.find_first_of("?#", auth_end);
  if (q == std::string::npos)
    q = s.size();
  std::string path = s.substr(auth_end, q - auth_end);
  for (char &c : path)
    if (c == '\\')
      c = '/';
  if (path.empty())
    path = "/";
  url.path = normalize_path(percent_encode(path, [](char c) {
    return std::string(" \"#<>?`{}").find(c) != std::string::npos;
  }));
  std::size_t hash = s.find('#', q);
  if (q < s.size() && s[q] == '?') {
    url.has_query = true;
    url.query = percent_encode(
        s.substr(q + 1, (hash == std::string::npos ? s.size() : hash) - q - 1),
        [](char c) {
          return std::string(" \"#<>'").find(c) != std::string::npos;
        });
  }
  // Step 5: a fragment, even an empty one, is a SyntaxError.
  if (hash != std::string::npos)
    throw SyntaxError("Failed to construct 'WebSocket': The URL contains a "
                      "fragment identifier ('" +
                      s.substr(hash + 1) +
                      "'). Fragment identifiers are not allowed in WebSocket "
                      "URLs.");

  url.href = url.scheme + "://" +
             (url.userinfo.empty() ? "" : url.userinfo + "@") + url.host +
             (url.port >= 0 ? ":" + std::to_string(url.port) : "") + url.path +
             (url.has_query ? "?" + url.query : "");
  return url;
}

/// A subprotocol must be an RFC 2616 token: visible ASCII, no separators.
inline bool is_token(const std::string &s) {
  static const std::string separators = "()<>@,;:\\\"/[]?={} \t";
  if (s.empty())
    return false;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || separators.find(c) != std::string::npos)
      return false;
  }
  return true;
}

} // namespace ws::detail
