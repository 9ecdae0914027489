// permessage-deflate (RFC 7692): the negotiation in both roles, frames as
// the RFC spells them, checked with zlib and raw bytes, and the limits that
// keep a decompression bomb from costing memory.
// SPDX-License-Identifier: MIT
#include "raw_client.hpp"

#include <zlib.h>

#include <fstream>
#include <random>
#include <thread>

using test::frame;
using namespace test::opcode;
using test::RawClient;
using test::wait_until;

namespace {

/// A raw deflate stream of `data`, as RFC 7692 7.2.1 puts it on the wire:
/// flushed, with the 00 00 FF FF tail removed. `z` keeps the window across
/// messages (context takeover); without it each message starts afresh.
std::string pack(const std::string &data, z_stream *z = nullptr) {
  z_stream own{};
  if (!z) {
    deflateInit2(&own, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
    z = &own;
  }
  std::string out(deflateBound(z, data.size()) + 64, '\0');
  z->next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
  z->avail_in = static_cast<uInt>(data.size());
  z->next_out = reinterpret_cast<Bytef *>(&out[0]);
  z->avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(z, Z_SYNC_FLUSH) == Z_OK);
  REQUIRE(z->avail_in == 0);
  out.resize(out.size() - z->avail_out);
  REQUIRE(out.size() >= 4);
  REQUIRE(out.substr(out.size() - 4) == std::string("\0\0\xff\xff", 4));
  out.resize(out.size() - 4);
  if (z == &own)
    deflateEnd(&own);
  return out;
}

/// The message in a compressed payload: the tail put back, then inflated.
std::string unpack(const std::string &payload, z_stream *z = nullptr) {
  z_stream own{};
  if (!z) {
    inflateInit2(&own, -15);
    z = &own;
  }
  std::string in = payload + std::string("\0\0\xff\xff", 4), out;
  z->next_in = reinterpret_cast<Bytef *>(&in[0]);
  z->avail_in = static_cast<uInt>(in.size());
  char buf[65536];
  do {
    z->next_out = reinterpret_cast<Bytef *>(buf);
    z->avail_out = sizeof buf;
    const int r = inflate(z, Z_SYNC_FLUSH);
    REQUIRE((r == Z_OK || r == Z_BUF_ERROR));
    out.append(buf, sizeof buf - z->avail_out);
  } while (z->avail_in > 0 || z->avail_out == 0);
  if (z == &own)
    inflateEnd(&own);
  return out;
}

/// Text that compresses as chat does, and bytes that do not compress.
std::string chatty(std::size_t n) {
  const std::string line = "ann: are we still on for lunch at noon? ";
  std::string s;
  while (s.size() < n)
    s += line;
  s.resize(n);
  return s;
}
std::string noise(std::size_t n) {
  std::mt19937 random(42);
  std::string s(n, '\0');
  for (auto &c : s)
    c = static_cast<char>(random());
  return s;
}

/// The value of a header in a response head ("" if absent).
std::string header_in(const std::string &head, const std::string &name) {
  auto at = head.find("\r\n" + name + ": ");
  if (at == std::string::npos)
    return "";
  at += name.size() + 4;
  return head.substr(at, head.find("\r\n", at) - at);
}

/// An echo server with permessage-deflate set as `o` says, its loop on a
/// thread of its own while this one speaks raw bytes to it.
struct DeflateEcho {
  ws::Server server;
  explicit DeflateEcho(ws::PerMessageDeflate d) : server(options(d)) {
    server.onconnection = [](ws::WebSocket &socket, const ws::Request &) {
      socket.onmessage = [&socket](const ws::MessageEvent &e) {
        socket.send(e.data, {e.isBinary});
      };
    };
    server.listen(0, "127.0.0.1");
  }
  static ws::ServerOptions options(ws::PerMessageDeflate d) {
    ws::ServerOptions o;
    o.perMessageDeflate = d;
    return o;
  }
};

/// A server with permessage-deflate that broadcasts, and counts its sockets
/// (on its loop thread, which the test does not run).
struct Broadcaster {
  ws::Server server;
  std::atomic<int> connected{0};
  explicit Broadcaster(bool no_context_takeover)
      : server(options(no_context_takeover)) {
    server.onconnection = [this](ws::WebSocket &, const ws::Request &) {
      ++connected;
    };
    server.listen(0, "127.0.0.1");
  }
  /// Until `n` sockets have opened: the loop runs on a LoopThread, so this
  /// thread watches the count, with a deadline that fails the test.
  void wait_for(int n) const {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (connected.load() < n) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::yield();
    }
  }
  static ws::ServerOptions options(bool no_context_takeover) {
    ws::ServerOptions o;
    o.perMessageDeflate.enabled = true;
    o.perMessageDeflate.serverNoContextTakeover = no_context_takeover;
    return o;
  }
};

ws::PerMessageDeflate server_on() {
  ws::PerMessageDeflate d;
  d.enabled = true;
  d.serverNoContextTakeover = true; // ws::ServerOptions' default
  return d;
}

/// The server must answer with a close frame carrying `code`, then drop TCP.
void closed_with(RawClient &c, int code) {
  auto f = c.read_frame();
  REQUIRE(f);
  CHECK(f->opcode == CLOSE);
  CHECK(f->close_code() == code);
  CHECK(c.closed_by_server());
}

/// TSan keeps shadow memory for every byte a program touches, so a peak
/// measured under it is TSan's, not ours: the memory checks are left out
/// there (the plain and ASan builds make them).
#if defined(__SANITIZE_THREAD__)
constexpr bool measure_memory = false;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool measure_memory = false;
#else
constexpr bool measure_memory = true;
#endif
#else
constexpr bool measure_memory = true;
#endif

/// A process's peak resident memory since the last reset, in KiB.
long peak_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stol(line.substr(6));
  FAIL("no VmHWM for " << pid);
  return 0;
}
void reset_peak(pid_t pid) {
  std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5";
}

/// `n` zero bytes compressed as one message: about n/1000 bytes, the best
/// deflate does (its longest match, 258 bytes, costs at least 2 bits).
std::string bomb(std::size_t n) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
  const std::string zeros(1 << 20, '\0');
  std::string out;
  char buf[65536];
  for (std::size_t done = 0; done < n; done += zeros.size()) {
    z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(zeros.data()));
    z.avail_in = static_cast<uInt>(zeros.size());
    do {
      z.next_out = reinterpret_cast<Bytef *>(buf);
      z.avail_out = sizeof buf;
      deflate(&z, done + zeros.size() >= n ? Z_SYNC_FLUSH : Z_NO_FLUSH);
      out.append(buf, sizeof buf - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  return out.substr(0, out.size() - 4);
}

} // namespace

TEST_CASE("the server answers permessage-deflate offers as RFC 7692 says") {
  struct Case {
    std::string offer, answer;
  };
  const std::string pmd = "permessage-deflate";
  const std::string snct = pmd + "; server_no_context_takeover";
  const std::vector<Case> cases = {
      // Every browser's offer, and the bare one.
      {pmd + "; client_max_window_bits", snct},
      {pmd, snct},
      {pmd + "; server_max_window_bits=10",
       snct + "; server_max_window_bits=10"},
      {pmd + "; server_max_window_bits=\"11\"",
       snct + "; server_max_window_bits=11"},
      {pmd + "; client_no_context_takeover",
       snct + "; client_no_context_takeover"},
      {pmd + "; client_max_window_bits=9", snct},
      // zlib cannot compress with a 256-byte window: declined, and the
      // next offer taken.
      {pmd + "; server_max_window_bits=8", ""},
      {pmd + "; server_max_window_bits=8, " + pmd, snct},
      // Offers RFC 7692 5 says to decline.
      {pmd + "; foo", ""},
      {pmd + "; server_no_context_takeover; server_no_context_takeover", ""},
      {pmd + "; server_max_window_bits=16", ""},
      {pmd + "; server_max_window_bits=010", ""},
      {pmd + "; server_max_window_bits", ""},
      {pmd + "; client_max_window_bits=7", ""},
      {pmd + "; server_no_context_takeover=1", ""},
      {pmd + "; foo, " + pmd + "; client_max_window_bits", snct},
      {"x-webkit-deflate-frame", ""},
  };
  DeflateEcho echo(server_on());
  test::LoopThread loop;
  for (const auto &c : cases) {
    INFO(c.offer);
    RawClient client(echo.server.port(),
                     "Sec-WebSocket-Extensions: " + c.offer + "\r\n");
    CHECK(header_in(client.response, "Sec-WebSocket-Extensions") == c.answer);
  }
}

TEST_CASE("the server's own permessage-deflate preferences") {
  struct Case {
    ws::PerMessageDeflate options;
    std::string offer, answer;
  };
  const std::string pmd = "permessage-deflate";
  ws::PerMessageDeflate off; // ServerOptions' default
  ws::PerMessageDeflate node = server_on();
  node.serverNoContextTakeover = false; // Node's default
  ws::PerMessageDeflate bits = node;
  bits.serverMaxWindowBits = 11;
  bits.clientMaxWindowBits = 10;
  ws::PerMessageDeflate quiet = node;
  quiet.clientNoContextTakeover = true;
  const std::vector<Case> cases = {
      {off, pmd + "; client_max_window_bits", ""},
      {node, pmd + "; client_max_window_bits", pmd},
      {node, pmd + "; server_no_context_takeover",
       pmd + "; server_no_context_takeover"},
      {bits, pmd + "; client_max_window_bits",
       pmd + "; server_max_window_bits=11; client_max_window_bits=10"},
      {bits, pmd + "; server_max_window_bits=9; client_max_window_bits=12",
       pmd + "; server_max_window_bits=9; client_max_window_bits=10"},
      // A client that did not offer client_max_window_bits cannot be
      // limited (7.1.2.2).
      {bits, pmd, pmd + "; server_max_window_bits=11"},
      {quiet, pmd, pmd + "; client_no_context_takeover"},
  };
  for (const auto &c : cases) {
    INFO(c.offer << " -> " << c.answer);
    DeflateEcho echo(c.options);
    test::LoopThread loop;
    RawClient client(echo.server.port(),
                     "Sec-WebSocket-Extensions: " + c.offer + "\r\n");
    CHECK(header_in(client.response, "Sec-WebSocket-Extensions") == c.answer);
  }
}

TEST_CASE("bad permessage-deflate options throw") {
  for (auto change : std::vector<std::function<void(ws::PerMessageDeflate &)>>{
           [](ws::PerMessageDeflate &d) { d.serverMaxWindowBits = 8; },
           [](ws::PerMessageDeflate &d) { d.clientMaxWindowBits = 16; },
           [](ws::PerMessageDeflate &d) { d.level = 10; },
           [](ws::PerMessageDeflate &d) { d.memLevel = 0; }}) {
    ws::ServerOptions s;
    s.perMessageDeflate.enabled = true;
    change(s.perMessageDeflate);
    CHECK_THROWS_AS(ws::Server(s), std::invalid_argument);
    ws::ClientOptions c;
    change(c.perMessageDeflate);
    CHECK_THROWS_AS(ws::WebSocket("ws://127.0.0.1:1/", {}, c),
                    std::invalid_argument);
  }
}

TEST_CASE("compressed frames as RFC 7692 spells them, both ways") {
  DeflateEcho echo(server_on());
  test::LoopThread loop;
  RawClient c(echo.server.port(),
              "Sec-WebSocket-Extensions: permessage-deflate\r\n");
  // Compressed messages, each alone, text and binary, of every size class;
  // the echo is compressed at and above the threshold (1024), RSV1 set on
  // it, and uncompressed below.
  for (std::size_t n : {0u, 1u, 1023u, 1024u, 70000u, 1u << 20}) {
    for (int op : {TEXT, BINARY}) {
      INFO(n << (op == TEXT ? " text" : " binary"));
      const std::string data = op == TEXT ? chatty(n) : noise(n);
      c.send_raw(frame(op, pack(data), true, 4));
      auto f = c.read_frame();
      REQUIRE(f);
      CHECK(f->opcode == op);
      CHECK(f->rsv == (n >= 1024 ? 4 : 0));
      CHECK((f->rsv ? unpack(f->payload) : f->payload) == data);
      if (op == TEXT && n >= 1024)
        CHECK(f->payload.size() < n / 4);
    }
  }
  // An uncompressed message is fine too: compression is per message.
  c.send_raw(frame(TEXT, "plain"));
  auto f = c.read_frame();
  REQUIRE(f);
  CHECK(f->payload == "plain");
  // A compressed message in fragments: RSV1 on the first frame only.
  const std::string whole = chatty(5000), packed = pack(whole);
  const std::size_t third = packed.size() / 3;
  c.send_raw(frame(TEXT, packed.substr(0, third), false, 4));
  c.send_raw(frame(PING, "between"));
  c.send_raw(frame(CONT, packed.substr(third, third), false));
  c.send_raw(frame(CONT, packed.substr(2 * third), true));
  f = c.read_frame();
  REQUIRE(f);
  CHECK(f->opcode == PONG);
  f = c.read_frame();
  REQUIRE(f);
  CHECK(unpack(f->payload) == whole);
  c.send_raw(frame(CLOSE, test::close_payload(1000)));
  closed_with(c, 1000);
}

TEST_CASE("the client's window carries over between its messages") {
  DeflateEcho echo(server_on());
  test::LoopThread loop;
  RawClient c(echo.server.port(),
              "Sec-WebSocket-Extensions: permessage-deflate\r\n");
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  for (int i = 0; i < 20; ++i) {
    // The same words again: later messages are mostly back references
    // into the earlier ones.
    const std::string msg = chatty(2000) + std::to_string(i);
    const std::string packed = pack(msg, &z);
    if (i > 0)
      CHECK(packed.size() < 40);
    c.send_raw(frame(TEXT, packed, true, 4));
    auto f = c.read_frame();
    REQUIRE(f);
    CHECK(unpack(f->payload) == msg); // ours: each alone
  }
  deflateEnd(&z);
}

TEST_CASE("broken compression fails the connection: 1002 or 1007") {
  struct Case {
    std::string name, extensions, bytes;
    int code;
  };
  const std::string pmd = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
  const std::string packed = pack(chatty(3000));
  const std::vector<Case> cases = {
      {"RSV1 without permessage-deflate", "", frame(TEXT, packed, true, 4),
       1002},
      {"RSV1 on a ping", pmd, frame(PING, "x", true, 4), 1002},
      {"RSV1 on a close", pmd, frame(CLOSE, "", true, 4), 1002},
      {"RSV1 on a continuation frame", pmd,
       frame(TEXT, packed.substr(0, 5), false, 4) +
           frame(CONT, packed.substr(5), true, 4),
       1002},
      {"RSV2 with permessage-deflate", pmd, frame(TEXT, packed, true, 2), 1002},
      {"data that is not deflate", pmd,
       frame(BINARY, std::string("\xff\xff\xff\xff\xff", 5), true, 4), 1007},
      {"deflate that inflates to invalid UTF-8", pmd,
       frame(TEXT, pack("caf\xc3"), true, 4), 1007},
  };
  DeflateEcho echo(server_on());
  test::LoopThread loop;
  for (const auto &c : cases) {
    INFO(c.name);
    RawClient client(echo.server.port(), c.extensions);
    client.send_raw(c.bytes);
    closed_with(client, c.code);
  }
}

TEST_CASE("a decompression bomb gets 1009 at once, and costs the server no "
          "more than maxPayload") {
  // echo_server --deflate: maxPayload is 16 MiB. Deflate's ratio tops out
  // near 1032:1, so 100 KiB on the wire inflate to 100 MiB: one frame, or
  // 40 fragments of 2.5 MiB each; 1 GiB would need 1 MiB on the wire.
  test::Process server({test::env("ECHO_SERVER"), "--port", "0", "--host",
                        "127.0.0.1", "--deflate"});
  const auto port =
      static_cast<std::uint16_t>(std::stoi(test::port_in(server.read_line())));
  const std::uint64_t max_payload = ws::ServerOptions().maxPayload;
  const std::string big = bomb(100u << 20);
  CHECK(big.size() < 110 * 1024);
  for (bool fragments : {false, true}) {
    INFO((fragments ? "in fragments" : "one frame"));
    RawClient c(port, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    reset_peak(server.pid());
    const long before = peak_kib(server.pid());
    const auto start = std::chrono::steady_clock::now();
    if (!fragments) {
      c.send_raw(frame(BINARY, big, true, 4));
    } else {
      const std::size_t step = big.size() / 40;
      for (std::size_t at = 0; at < big.size(); at += step)
        c.send_raw(frame(at == 0 ? BINARY : CONT, big.substr(at, step),
                         at + step >= big.size(), at == 0 ? 4 : 0));
    }
    closed_with(c, 1009);
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took < std::chrono::seconds(1));
    const long grew = (peak_kib(server.pid()) - before) * 1024;
    INFO("peak RSS grew by " << grew / 1024 << " KiB");
    if (measure_memory)
      CHECK(grew < static_cast<long>(2 * max_payload));
  }
}

TEST_CASE("a decompression bomb from a server: error, close 1006, and the "
          "server gets 1009") {
  test::MisbehavingServer peer(
      frame(BINARY, bomb(100u << 20), true, 4, false), false,
      "Sec-WebSocket-Extensions: permessage-deflate\r\n");
  ws::ClientOptions o;
  o.maxPayload = 4 << 20;
  reset_peak(getpid());
  const long before = peak_kib(getpid());
  ws::WebSocket socket(peer.url(), {}, o);
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  CHECK(r.events == std::vector<std::string>{"open", "error", "close"});
  CHECK(r.closes[0].code == 1006);
  const long grew = (peak_kib(getpid()) - before) * 1024;
  INFO("peak RSS grew by " << grew / 1024 << " KiB");
  if (measure_memory)
    CHECK(grew < static_cast<long>(2 * o.maxPayload));
  wait_until([&] { return peer.close_frame().has_value(); });
  CHECK(peer.close_frame()->close_code() == 1009);
}

TEST_CASE("the client offers as a browser does, and reads the answer") {
  // What the server saw, and what it answered with.
  struct Case {
    bool enabled;
    std::string offer;
  };
  for (const auto &c :
       {Case{true, "permessage-deflate; client_max_window_bits"},
        Case{false, ""}}) {
    test::ScriptedServer peer([](const std::string &) { return ""; });
    peer.then_close = false;
    peer.respond = [&](const std::string &) { return peer.upgrade(); };
    ws::ClientOptions o;
    o.perMessageDeflate.enabled = c.enabled;
    ws::WebSocket socket(peer.url(), {}, o);
    test::Recorder r;
    r.attach(socket);
    wait_until([&] { return !r.events.empty(); });
    CHECK(peer.header("Sec-WebSocket-Extensions") == c.offer);
    CHECK(socket.extensions().empty());
  }
  // Every option in the offer, as Node's ws words it.
  test::ScriptedServer peer([](const std::string &) { return ""; });
  peer.then_close = false;
  peer.respond = [&](const std::string &) { return peer.upgrade(); };
  ws::ClientOptions o;
  o.perMessageDeflate.serverNoContextTakeover = true;
  o.perMessageDeflate.clientNoContextTakeover = true;
  o.perMessageDeflate.serverMaxWindowBits = 10;
  o.perMessageDeflate.clientMaxWindowBits = 11;
  ws::WebSocket socket(peer.url(), {}, o);
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return !r.events.empty(); });
  CHECK(peer.header("Sec-WebSocket-Extensions") ==
        "permessage-deflate; server_no_context_takeover; "
        "client_no_context_takeover; server_max_window_bits=10; "
        "client_max_window_bits=11");
}

TEST_CASE("the client fails an answer RFC 7692 does not allow, as Chromium "
          "does") {
  struct Case {
    std::string answer;
    bool ok;
    int client_bits = 0; // clientMaxWindowBits offered
  };
  const std::string pmd = "permessage-deflate";
  for (const auto &c : std::vector<Case>{
           {pmd, true},
           {pmd + "; server_no_context_takeover; client_no_context_takeover; "
                  "server_max_window_bits=9; client_max_window_bits=9",
            true},
           {pmd + "; server_max_window_bits=8", true},
           {pmd + "; client_max_window_bits=8", true}, // we just never compress
           {pmd + "; foo", false},
           {pmd + "; client_max_window_bits",
            false}, // a response needs a value
           {pmd + "; server_max_window_bits=16", false},
           {pmd + "; server_no_context_takeover; server_no_context_takeover",
            false},
           {pmd + ", " + pmd, false},
           {pmd + ", x-foo", false},
           {pmd + "; client_max_window_bits=12", false, 10},
           {pmd + "; client_max_window_bits=10", true, 10}}) {
    INFO(c.answer);
    test::ScriptedServer peer([](const std::string &) { return ""; });
    peer.then_close = false;
    peer.respond = [&](const std::string &) {
      return peer.upgrade("Sec-WebSocket-Extensions: " + c.answer + "\r\n");
    };
    ws::ClientOptions o;
    o.perMessageDeflate.clientMaxWindowBits = c.client_bits;
    ws::WebSocket socket(peer.url(), {}, o);
    test::Recorder r;
    r.attach(socket);
    wait_until([&] { return !r.events.empty(); });
    if (c.ok) {
      CHECK(r.events[0] == "open");
      CHECK(socket.extensions() == c.answer);
    } else {
      wait_until([&] { return r.closed(); });
      CHECK(r.events == std::vector<std::string>{"error", "close"});
      CHECK(r.errors[0].find("handshake") != std::string::npos);
      CHECK(r.closes[0].code == 1006);
    }
  }
}

TEST_CASE("ws client and server: extensions() and messages both ways, "
          "every window and takeover setting") {
  struct Case {
    bool server_takeover, client_takeover;
    int client_bits;
  };
  for (const auto &c : {Case{false, false, 0}, Case{true, false, 0},
                        Case{true, true, 0}, Case{false, true, 9}}) {
    INFO(c.server_takeover << c.client_takeover << c.client_bits);
    ws::ServerOptions so;
    so.perMessageDeflate.enabled = true;
    so.perMessageDeflate.serverNoContextTakeover = !c.server_takeover;
    so.perMessageDeflate.threshold = 0;
    ws::Server server(so);
    std::string server_ext;
    server.onconnection = [&](ws::WebSocket &s, const ws::Request &) {
      server_ext = s.extensions();
      s.onmessage = [&s](const ws::MessageEvent &e) {
        s.send(e.data, {e.isBinary});
      };
    };
    server.listen(0, "127.0.0.1");
    ws::ClientOptions o;
    o.perMessageDeflate.clientNoContextTakeover = !c.client_takeover;
    o.perMessageDeflate.clientMaxWindowBits = c.client_bits;
    o.perMessageDeflate.threshold = 0;
    ws::WebSocket socket(test::local_url(server), {}, o);
    test::Recorder r;
    r.attach(socket);
    std::vector<std::string> sent;
    socket.onopen = [&](const ws::Event &) {
      for (int i = 0; i < 30; ++i) {
        sent.push_back(i % 3 == 2 ? noise(10000 + i) : chatty(100 * i) + "!");
        if (i % 3 == 2)
          socket.send(sent.back(), {true});
        else
          socket.send(sent.back());
      }
    };
    wait_until([&] { return r.messages.size() == 30; });
    for (std::size_t i = 0; i < 30; ++i)
      CHECK(r.messages[i].data == sent[i]);
    CHECK(socket.extensions() == server_ext);
    CHECK(socket.extensions().rfind("permessage-deflate", 0) == 0);
    CHECK((socket.extensions().find("server_no_context_takeover") ==
           std::string::npos) == c.server_takeover);
    CHECK((socket.extensions().find("client_no_context_takeover") ==
           std::string::npos) == c.client_takeover);
  }
}

TEST_CASE("send(data, {compress: false}) and the threshold leave a message "
          "uncompressed") {
  ws::ServerOptions so;
  so.perMessageDeflate.enabled = true;
  ws::Server server(so);
  server.onconnection = [](ws::WebSocket &s, const ws::Request &) {
    s.send(chatty(5000));
    ws::SendOptions plain;
    plain.compress = false;
    s.send(chatty(5000), plain);
    s.send(chatty(1023)); // under the threshold
    plain.binary = true;
    s.send(noise(3000), plain);
  };
  server.listen(0, "127.0.0.1");
  test::LoopThread loop;
  RawClient c(server.port(),
              "Sec-WebSocket-Extensions: permessage-deflate\r\n");
  auto f = c.read_frame();
  REQUIRE(f);
  CHECK(f->rsv == 4);
  CHECK(unpack(f->payload) == chatty(5000));
  for (const std::string &expected :
       {chatty(5000), chatty(1023), noise(3000)}) {
    f = c.read_frame();
    REQUIRE(f);
    CHECK(f->rsv == 0);
    CHECK(f->payload == expected);
  }
}

TEST_CASE("broadcast compresses once per window size and still serves "
          "every socket its own way") {
  Broadcaster b(true);
  ws::Server &server = b.server;
  test::LoopThread loop;
  const std::string pmd = "Sec-WebSocket-Extensions: permessage-deflate";
  RawClient plain(server.port()), alone(server.port(), pmd + "\r\n"),
      alone2(server.port(), pmd + "; client_max_window_bits\r\n"),
      small(server.port(), pmd + "; server_max_window_bits=9\r\n");
  b.wait_for(4);
  const std::string text = chatty(20000);
  server.broadcast(text);
  server.broadcast(noise(4000), {true});
  for (RawClient *c : {&plain, &alone, &alone2, &small}) {
    auto f = c->read_frame();
    REQUIRE(f);
    CHECK(f->rsv == (c == &plain ? 0 : 4));
    CHECK((f->rsv ? unpack(f->payload) : f->payload) == text);
    f = c->read_frame();
    REQUIRE(f);
    CHECK((f->rsv ? unpack(f->payload) : f->payload) == noise(4000));
  }
}

TEST_CASE("broadcast with context takeover: each socket's own window, in "
          "order") {
  Broadcaster bc(false);
  ws::Server &server = bc.server;
  test::LoopThread loop;
  RawClient a(server.port(),
              "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
      b(server.port(), "Sec-WebSocket-Extensions: permessage-deflate\r\n");
  bc.wait_for(2);
  CHECK(header_in(a.response, "Sec-WebSocket-Extensions") ==
        "permessage-deflate");
  for (int i = 0; i < 5; ++i)
    server.broadcast(chatty(3000) + std::to_string(i));
  for (RawClient *c : {&a, &b}) {
    z_stream z{};
    inflateInit2(&z, -15);
    for (int i = 0; i < 5; ++i) {
      auto f = c->read_frame();
      REQUIRE(f);
      CHECK(f->rsv == 4);
      if (i > 0)
        CHECK(f->payload.size() < 100); // the window helped
      CHECK(unpack(f->payload, &z) == chatty(3000) + std::to_string(i));
    }
    inflateEnd(&z);
  }
}

TEST_CASE("threads sending with context takeover: every message arrives, "
          "whole and in each thread's order") {
  ws::ServerOptions so;
  so.perMessageDeflate.enabled = true;
  so.perMessageDeflate.serverNoContextTakeover = false;
  so.perMessageDeflate.threshold = 0;
  ws::Server server(so);
  std::vector<std::string> got;
  server.onconnection = [&](ws::WebSocket &s, const ws::Request &) {
    s.onmessage = [&](const ws::MessageEvent &e) { got.push_back(e.data); };
  };
  server.listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(server));
  wait_until([&] { return socket.readyState() == ws::WebSocket::OPEN; });
  REQUIRE(socket.extensions() == "permessage-deflate");
  constexpr int threads = 4, each = 200;
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t)
    senders.emplace_back([&socket, t] {
      for (int i = 0; i < each; ++i)
        socket.send(std::to_string(t) + " " + std::to_string(i) + " " +
                    chatty(static_cast<std::size_t>(i % 7) * 300));
    });
  wait_until([&] { return got.size() == threads * each; });
  for (auto &s : senders)
    s.join();
  std::vector<int> next(threads, 0);
  for (const auto &m : got) {
    const int t = std::stoi(m);
    const int i = std::stoi(m.substr(m.find(' ') + 1));
    CHECK(i == next[t]++);
    CHECK(m.substr(m.find(' ', m.find(' ') + 1) + 1) ==
          chatty(static_cast<std::size_t>(i % 7) * 300));
  }
}

TEST_CASE("a server's broken compression: the client reports error, then "
          "close 1006, as a browser does, and the server gets 1002 or 1007") {
  struct Case {
    std::string name, extensions, bytes;
    int code;
  };
  const std::string pmd = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
  const std::string packed = pack(chatty(3000));
  auto unmasked = [](int op, const std::string &payload, bool fin = true,
                     int rsv = 0) {
    return frame(op, payload, fin, rsv, false);
  };
  const std::vector<Case> cases = {
      {"RSV1 without permessage-deflate", "", unmasked(TEXT, packed, true, 4),
       1002},
      {"RSV1 on a ping", pmd, unmasked(PING, "x", true, 4), 1002},
      {"RSV1 on a continuation frame", pmd,
       unmasked(TEXT, packed.substr(0, 5), false, 4) +
           unmasked(CONT, packed.substr(5), true, 4),
       1002},
      {"data that is not deflate", pmd,
       unmasked(BINARY, std::string("\xff\xff\xff\xff\xff", 5), true, 4), 1007},
  };
  for (const auto &c : cases) {
    INFO(c.name);
    test::MisbehavingServer peer(c.bytes, false, c.extensions);
    ws::WebSocket socket(peer.url());
    test::Recorder r;
    r.attach(socket);
    wait_until([&] { return r.closed(); });
    CHECK(r.events == std::vector<std::string>{"open", "error", "close"});
    CHECK(r.closes[0].code == 1006);
    CHECK_FALSE(r.closes[0].wasClean);
    wait_until([&] { return peer.close_frame().has_value(); });
    CHECK(peer.close_frame()->close_code() == c.code);
  }
}
