// permessage-deflate (RFC 7692): the negotiation in both roles, a bounded
// inflater, and the compressors our frames are built with.
// SPDX-License-Identifier: MIT
#pragma once

// ascii.hpp first: it declares the tolower websocketpp's headers must find.
#include "ascii.hpp"

#include "../options.hpp"

#include <websocketpp/http/constants.hpp>
#include <websocketpp/processors/base.hpp>

// permessage-deflate needs zlib (zlib1g-dev, -lz). meson defines this where
// zlib is found; a hand-made build without it offers and accepts nothing.
#ifndef WS_DEFLATE
#define WS_DEFLATE 0
#endif
#if WS_DEFLATE
#include <zlib.h>
#endif

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ws::detail {

/// One element of a Sec-WebSocket-Extensions header (RFC 6455 9.1): a name
/// and its parameters in order, each with its value if it has one.
struct ExtensionElement {
  std::string name;
  std::vector<std::pair<std::string, std::optional<std::string>>> params;
};

inline bool token_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

/// The elements of a header value, or nothing if it breaks the grammar.
/// websocketpp parses it too, but into a map, which hides a parameter given
/// twice (an offer RFC 7692 5 says to decline).
inline std::optional<std::vector<ExtensionElement>>
parse_extensions(std::string_view s) {
  std::size_t i = 0;
  auto space = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
      ++i;
  };
  auto token = [&] {
    const std::size_t start = i;
    while (i < s.size() && token_char(s[i]))
      ++i;
    return std::string(s.substr(start, i - start));
  };
  std::vector<ExtensionElement> out;
  for (;;) {
    space();
    ExtensionElement e;
    e.name = token();
    if (e.name.empty())
      return std::nullopt;
    space();
    while (i < s.size() && s[i] == ';') {
      ++i;
      space();
      std::string name = token();
      if (name.empty())
        return std::nullopt;
      space();
      std::optional<std::string> value;
      if (i < s.size() && s[i] == '=') {
        ++i;
        space();
        if (i < s.size() && s[i] == '"') { // a quoted-string
          std::string v;
          for (++i; i < s.size() && s[i] != '"'; ++i)
            v += s[i] == '\\' && i + 1 < s.size() ? s[++i] : s[i];
          if (i == s.size())
            return std::nullopt;
          ++i;
          value = v;
        } else {
          value = token();
        }
        if (value->empty())
          return std::nullopt;
        space();
      }
      e.params.emplace_back(std::move(name), std::move(value));
    }
    out.push_back(std::move(e));
    if (i == s.size())
      return out;
    if (s[i] != ',')
      return std::nullopt;
    ++i;
  }
}

/// The parameters of one permessage-deflate element (RFC 7692 7.1). Window
/// bits are 0 where the parameter is absent; -1 for a client_max_window_bits
/// offered without a value.
struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 0;
  int client_max_window_bits = 0;
};

/// Reads an element's parameters; nothing if one is unknown, given twice or
/// has a bad value (RFC 7692 5: an offer so made is declined, a response
/// fails the connection). `offer`: client_max_window_bits may be bare.
inline std::optional<DeflateParams> read_params(const ExtensionElement &e,
                                                bool offer) {
  DeflateParams p;
  std::vector<std::string> seen;
  auto bits = [](const std::optional<std::string> &v) {
    // 1*DIGIT with a value of 8 to 15: no sign, no leading zero.
    if (!v || v->size() > 2 || (*v)[0] == '0' ||
        !std::all_of(v->begin(), v->end(),
                     [](char c) { return c >= '0' && c <= '9'; }))
      return 0;
    const int n = std::stoi(*v);
    return n >= 8 && n <= 15 ? n : 0;
  };
  for (const auto &[name, value] : e.params) {
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      return std::nullopt;
    seen.push_back(name);
    if (name == "server_no_context_takeover" && !value)
      p.server_no_context_takeover = true;
    else if (name == "client_no_context_takeover" && !value)
      p.client_no_context_takeover = true;
    else if (name == "server_max_window_bits" &&
             (p.server_max_window_bits = bits(value)))
      continue;
    else if (name == "client_max_window_bits" && offer && !value)
      p.client_max_window_bits = -1;
    else if (name == "client_max_window_bits" &&
             (p.client_max_window_bits = bits(value)))
      continue;
    else
      return std::nullopt;
  }
  return p;
}

/// The header value that says `p`.
inline std::string deflate_header(const DeflateParams &p) {
  std::string s = "permessage-deflate";
  if (p.server_no_context_takeover)
    s += "; server_no_context_takeover";
  if (p.client_no_context_takeover)
    s += "; client_no_context_takeover";
  if (p.server_max_window_bits > 0)
    s += "; server_max_window_bits=" + std::to_string(p.server_max_window_bits);
  if (p.client_max_window_bits < 0)
    s += "; client_max_window_bits";
  else if (p.client_max_window_bits > 0)
    s += "; client_max_window_bits=" + std::to_string(p.client_max_window_bits);
  return s;
}

/// Throws std::invalid_argument for options zlib or the RFC cannot honour.
inline void check_deflate_options(const PerMessageDeflate &o) {
  auto fail = [](const std::string &what) {
    throw std::invalid_argument("perMessageDeflate: " + what);
  };
  if (!WS_DEFLATE)
    fail("this program was built without zlib (WS_DEFLATE=0)");
  for (int bits : {o.serverMaxWindowBits, o.clientMaxWindowBits})
    if (bits != 0 && (bits < 9 || bits > 15))
      fail("window bits must be 9 to 15 (or 0), not " + std::to_string(bits));
  if (o.level < -1 || o.level > 9)
    fail("level must be -1 to 9, not " + std::to_string(o.level));
  if (o.memLevel < 1 || o.memLevel > 9)
    fail("memLevel must be 1 to 9, not " + std::to_string(o.memLevel));
}

/// The client's offer: what a browser sends ("permessage-deflate;
/// client_max_window_bits"), with what the options ask for.
inline std::string deflate_offer(const PerMessageDeflate &o) {
  DeflateParams p;
  p.server_no_context_takeover = o.serverNoContextTakeover;
  p.client_no_context_takeover = o.clientNoContextTakeover;
  p.server_max_window_bits = o.serverMaxWindowBits;
  p.client_max_window_bits = o.clientMaxWindowBits ? o.clientMaxWindowBits : -1;
  return deflate_header(p);
}

/// A server's answer to a client's offers (RFC 7692 5, 7.1): the first it
/// can accept, as the parameters it answers with; nothing if none.
inline std::optional<DeflateParams>
accept_offer(const std::vector<ExtensionElement> &offers,
             const PerMessageDeflate &o) {
  for (const auto &e : offers) {
    if (e.name != "permessage-deflate")
      continue;
    auto offer = read_params(e, true);
    if (!offer)
      continue; // declined: the next offer may do
    DeflateParams answer;
    int server_bits = o.serverMaxWindowBits;
    if (offer->server_max_window_bits) {
      // 8 would have to be honoured, and zlib compresses with 9 at least.
      if (offer->server_max_window_bits < 9)
        continue;
      server_bits = server_bits
                        ? std::min(server_bits, offer->server_max_window_bits)
                        : offer->server_max_window_bits;
    }
    answer.server_max_window_bits = server_bits;
    answer.server_no_context_takeover =
        offer->server_no_context_takeover || o.serverNoContextTakeover;
    // Offered: the client does it anyway, and saying so lets us drop our
    // decompressor between its messages.
    answer.client_no_context_takeover =
        offer->client_no_context_takeover || o.clientNoContextTakeover;
    // Only a client that offered client_max_window_bits may be limited.
    if (offer->client_max_window_bits && o.clientMaxWindowBits)
      answer.client_max_window_bits =
          offer->client_max_window_bits > 0
              ? std::min(o.clientMaxWindowBits, offer->client_max_window_bits)
              : o.clientMaxWindowBits;
    return answer;
  }
  return std::nullopt;
}

/// A client's check of the server's answer (RFC 7692 5, 7.1.1-7.1.2):
/// the agreed parameters, or why the connection must fail.
inline std::pair<std::optional<DeflateParams>, std::string>
check_answer(const std::string &header, const PerMessageDeflate &o) {
  auto elements = parse_extensions(header);
  if (!elements)
    return {std::nullopt, "Invalid 'Sec-WebSocket-Extensions' header"};
  if (elements->size() != 1 || (*elements)[0].name != "permessage-deflate" ||
      !o.enabled)
    return {std::nullopt,
            "the server chose extensions that were not offered: " + header};
  auto p = read_params((*elements)[0], false);
  if (!p)
    return {std::nullopt, "the server's permessage-deflate parameters are "
                          "invalid: " +
                              header};
  if (o.clientMaxWindowBits &&
      p->client_max_window_bits > o.clientMaxWindowBits)
    return {std::nullopt, "the server asked for a larger client window than "
                          "offered: " +
                              header};
  if (o.serverMaxWindowBits &&
      (!p->server_max_window_bits ||
       p->server_max_window_bits > o.serverMaxWindowBits))
    return {std::nullopt, "the server did not accept server_max_window_bits=" +
                              std::to_string(o.serverMaxWindowBits) + ": " +
                              header};
  if (o.serverNoContextTakeover && !p->server_no_context_takeover)
    return {std::nullopt,
            "the server did not accept server_no_context_takeover: " + header};
  return {p, ""};
}

/// What our side compresses with, agreed at the handshake: 0 when it does
/// not compress, else the window bits, with no_context_bit set when each
/// message starts from an empty window. One int, so a send() on any thread
/// reads it in one atomic step.
constexpr int no_context_bit = 0x100;

#if WS_DEFLATE
/// Compresses one message as RFC 7692 7.2.1 says: deflate, flush, and drop
/// the flush's 00 00 FF FF tail. `reset`: the next message starts with an
/// empty window.
class Deflater {
public:
  Deflater(int bits, int level, int mem_level) {
    z_ = {};
    if (deflateInit2(&z_, level, Z_DEFLATED, -bits, mem_level,
                     Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::bad_alloc();
  }
  ~Deflater() { deflateEnd(&z_); }
  Deflater(const Deflater &) = delete;
  Deflater &operator=(const Deflater &) = delete;

  std::string compress(const char *data, std::size_t size, bool reset) {
    std::string out;
    out.resize(deflateBound(&z_, static_cast<uLong>(size)) + 16);
    z_.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data));
    z_.avail_in = static_cast<uInt>(size);
    std::size_t used = 0;
    for (;;) {
      z_.next_out = reinterpret_cast<Bytef *>(&out[used]);
      z_.avail_out = static_cast<uInt>(out.size() - used);
      deflate(&z_, Z_SYNC_FLUSH);
      used = out.size() - z_.avail_out;
      if (z_.avail_out != 0 && z_.avail_in == 0)
        break;
      out.resize(out.size() * 2);
    }
    out.resize(used >= 4 ? used - 4 : used);
    if (reset)
      deflateReset(&z_);
    return out;
  }

private:
  z_stream z_;
};

/// A message compressed with an empty window (no context takeover), on the
/// calling thread: the same bytes whichever socket sends them, so a send()
/// compresses before posting and a broadcast once for all.
inline std::string compress_alone(const char *data, std::size_t size, int bits,
                                  int level, int mem_level) {
  struct Cached {
    int bits, level, mem_level;
    std::unique_ptr<Deflater> deflater;
  };
  thread_local std::vector<Cached> cache; // one per parameter set in use
  auto it = std::find_if(cache.begin(), cache.end(), [&](const Cached &c) {
    return c.bits == bits && c.level == level && c.mem_level == mem_level;
  });
  if (it == cache.end()) {
    cache.push_back({bits, level, mem_level,
                     std::make_unique<Deflater>(bits, level, mem_level)});
    it = cache.end() - 1;
  }
  return it->deflater->compress(data, size, true);
}

/// Decompresses a peer's messages into their payload, never past `limit`
/// bytes: websocketpp 0.8.2 checks its size limit against the compressed
/// bytes only (its issue 1191), so a small message could inflate without
/// bound. The payload's capacity grows at most to the limit.
class Inflater {
public:
  explicit Inflater(int bits) {
    z_ = {};
    if (inflateInit2(&z_, -bits) != Z_OK)
      throw std::bad_alloc();
  }
  ~Inflater() { inflateEnd(&z_); }
  Inflater(const Inflater &) = delete;
  Inflater &operator=(const Inflater &) = delete;

  websocketpp::lib::error_code inflate_into(const std::uint8_t *data,
                                            std::size_t size, std::string &out,
                                            std::uint64_t limit) {
    namespace perr = websocketpp::processor::error;
    z_.next_in = const_cast<Bytef *>(data);
    z_.avail_in = static_cast<uInt>(size);
    for (;;) {
      char chunk[16384];
      z_.next_out = reinterpret_cast<Bytef *>(chunk);
      z_.avail_out = sizeof chunk;
      const int r = inflate(&z_, Z_SYNC_FLUSH);
      if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
        return perr::make_error_code(perr::invalid_payload);
      const std::size_t got = sizeof chunk - z_.avail_out;
      if (out.size() + got > limit)
        return perr::make_error_code(perr::message_too_big);
      // Doubling up to 1 MiB; past that, room for the whole limit at once:
      // its pages cost memory only as they are filled, and no half-size
      // copy lives beside the new one while it grows (the peak stays near
      // the limit, not twice it).
      if (out.capacity() < out.size() + got) {
        const std::uint64_t want =
            out.capacity() < (512u << 10)
                ? std::max(out.capacity() * 2, out.size() + got)
                : limit;
        out.reserve(static_cast<std::size_t>(std::min(want, limit)));
      }
      out.append(chunk, got);
      // A block with BFINAL set ends zlib's stream; what follows starts a
      // new one (RFC 7692 7.2.3.4 allows it).
      if (r == Z_STREAM_END)
        inflateReset(&z_);
      if (z_.avail_in == 0 && z_.avail_out != 0)
        return {};
      if (r == Z_BUF_ERROR && got == 0)
        return {};
    }
  }

private:
  z_stream z_;
};

#else
// Built without zlib: nothing is offered or accepted, so none is made.
class Deflater {
public:
  Deflater(int, int, int) { throw std::logic_error("ws: built without zlib"); }
  std::string compress(const char *, std::size_t, bool) { return {}; }
};
inline std::string compress_alone(const char *, std::size_t, int, int, int) {
  throw std::logic_error("ws: built without zlib");
}
class Inflater {
public:
  explicit Inflater(int) { throw std::logic_error("ws: built without zlib"); }
  websocketpp::lib::error_code inflate_into(const std::uint8_t *, std::size_t,
                                            std::string &, std::uint64_t) {
    return {};
  }
};
#endif

} // namespace ws::detail
