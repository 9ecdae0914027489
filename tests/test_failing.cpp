// Failing the connection does not wait for the peer (RFC 6455 7.1.7: send
// the close frame, then close the connection). Each way of failing, in both
// roles, against a scripted peer that then holds TCP open for 0, 2 or 6
// seconds or for ever: the events are the same (error, then close 1006,
// wasClean false), they come as soon as the failure is found, and our side
// ends TCP then too, whatever the peer does.
// SPDX-License-Identifier: MIT
#include "raw_client.hpp"
#if WS_TLS
#include "tls_certs.hpp"

#include <asio/ssl.hpp>
#endif

#include <map>

using namespace std::chrono_literals;
using namespace test::opcode;
using test::frame;
using test::Hold;
using test::HoldingPeer;
using test::wait_until;
using ws::WebSocket;
using Clock = std::chrono::steady_clock;

namespace {

const std::vector<Hold> holds = {0ms, 2000ms, 6000ms, std::nullopt};

std::string hold_name(const Hold &h) {
  return h ? std::to_string(h->count()) + " ms" : "for ever";
}

/// How soon after the failure is found the close event must come, and our
/// side must have ended TCP: well under the shortest hold that is not 0.
constexpr auto prompt = 1000ms;

/// One way to fail the connection: what the peer sends after the opening
/// handshake (`headers` in a scripted server's 101), and what it then gets
/// from us: a close frame with `code`, or (0) none, TCP only.
struct Way {
  std::string what;
  std::string script;
  int code;
  std::string headers = "";
  /// The connection fails before it opens (no open event).
  bool in_handshake = false;
  /// Found only after a heartbeat interval or two, not at once.
  bool heartbeat = false;
};

/// The ways a peer makes us fail the connection, as it would send them:
/// masked when `client` (the peer is a client).
std::vector<Way> ways(bool client) {
  // A frame as the peer's role sends it, and as the other role must not.
  auto f = [client](int op, const std::string &payload, bool fin = true,
                    int rsv = 0) {
    return frame(op, payload, fin, rsv, client);
  };
  auto wrong_mask = [client](int op, const std::string &payload) {
    return frame(op, payload, true, 0, !client);
  };
  std::vector<Way> out = {
      {client ? "an unmasked frame" : "a masked frame", wrong_mask(TEXT, "hi"),
       1002},
      {"a reserved bit", f(TEXT, "hi", true, 2), 1002},
      {"an unknown opcode", f(3, ""), 1002},
      {"a fragmented ping", f(PING, "", false), 1002},
      {"text that is not UTF-8", f(TEXT, "caf\xC3\x28"), 1007},
      {"fragmented text ending inside a character",
       f(TEXT, "caf", false) + f(CONT, "\xC3"), 1007},
      {"a close frame with code 1005", f(CLOSE, test::close_payload(1005)),
       1002},
      {"a close frame of one byte", f(CLOSE, std::string(1, '\x03')), 1002},
      {"a close reason that is not UTF-8",
       f(CLOSE, test::close_payload(1000, "\xFF")), 1002},
      {"a message over maxPayload", f(BINARY, std::string(2000, 'x')), 1009},
      // The rest of it still coming: unread bytes when we close.
      {"a message over maxPayload, still being sent",
       f(BINARY, std::string(200000, 'x')), 1009},
      {"a dead heartbeat (no pong)", "", 0},
  };
  out.back().heartbeat = true;
  if (!client) {
    Way protocol{"a subprotocol not offered", "", 0,
                 "Sec-WebSocket-Protocol: chat\r\n"};
    protocol.in_handshake = true;
    Way extension{"an extension not offered", "", 0,
                  "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"};
    extension.in_handshake = true;
    out.push_back(protocol);
    out.push_back(extension);
  }
  return out;
}

constexpr auto ping_interval = 200ms;

/// What one case saw: our socket's events, and when.
struct Seen {
  test::Recorder r;
  Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> opened, closed;
  void attach(WebSocket &s) {
    r.attach(s);
    s.addEventListener("open",
                       [this](const ws::Event &) { opened = Clock::now(); });
    s.addEventListener("close",
                       [this](const ws::Event &) { closed = Clock::now(); });
  }
};

std::string ms(Clock::duration d) {
  return std::to_string(
             std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) +
         " ms";
}

/// The checks every case makes once its close event has come.
void check(const Way &way, const Hold &hold, const Seen &seen,
           const HoldingPeer &peer) {
  INFO(way.what << ", the peer holding TCP " << hold_name(hold));
  const std::vector<std::string> expected =
      way.in_handshake ? std::vector<std::string>{"error", "close"}
                       : std::vector<std::string>{"open", "error", "close"};
  CHECK(seen.r.events == expected);
  CHECK(seen.closed);
  if (!seen.closed)
    return;
  CHECK(seen.r.closes[0].code == 1006);
  CHECK_FALSE(seen.r.closes[0].wasClean);
  // When the failure could first be found: at once, or when the heartbeat
  // finds the pong missing (two intervals).
  const auto due = (seen.opened ? *seen.opened : seen.start) +
                   (way.heartbeat ? 2 * ping_interval : 0ms);
  INFO("close came " << ms(*seen.closed - due) << " after the failure");
  CHECK(*seen.closed - due < prompt);
  if (way.code) {
    CHECK(peer.close_frame());
    if (peer.close_frame())
      CHECK(peer.close_frame()->close_code() == way.code);
  } else {
    CHECK_FALSE(peer.close_frame());
  }
  // Our side ended TCP, not waiting for the peer (unless the peer closed
  // first: hold 0).
  if (hold && *hold == 0ms)
    return;
  CHECK(peer.ended());
  if (!peer.ended())
    return;
  INFO("our side ended TCP " << ms(*peer.ended() - due) << " after");
  CHECK(*peer.ended() - due < prompt);
}

/// Runs every case at once, each done well before the 2 s hold ends, then
/// checks them all (the checks say which is not).
template <class Case> void run_and_check(const std::vector<Case> &cases) {
  ws::runUntil(
      [&] {
        for (const auto &c : cases)
          if (!c.seen->closed || (c.hold != 0ms && !c.peer->ended()))
            return false;
        return true;
      },
      10s);
  for (const auto &c : cases)
    check(c.way, c.hold, *c.seen, *c.peer);
}

} // namespace

TEST_CASE("client: failing the connection closes TCP at once, whatever the "
          "server does") {
  struct Case {
    Way way;
    Hold hold;
    std::unique_ptr<HoldingPeer> peer;
    std::unique_ptr<WebSocket> socket;
    std::unique_ptr<Seen> seen;
  };
  std::vector<Case> cases;
  for (const auto &way : ways(false))
    for (const auto &hold : holds) {
      Case c{way, hold,
             std::make_unique<HoldingPeer>(way.script, hold, way.headers),
             nullptr, std::make_unique<Seen>()};
      ws::ClientOptions options;
      options.maxPayload = 1000;
      options.closeTimeout = 30s; // failing must not wait for it
      if (way.heartbeat)
        options.pingInterval = ping_interval;
      c.socket = std::make_unique<WebSocket>(
          c.peer->url(), std::vector<std::string>{}, options);
      c.seen->attach(*c.socket);
      cases.push_back(std::move(c));
    }
  run_and_check(cases);
}

TEST_CASE("server: failing the connection closes TCP at once, whatever the "
          "client does") {
  ws::ServerOptions options;
  options.maxPayload = 1000;
  options.closeTimeout = 30s;
  ws::Server server(options);
  ws::ServerOptions beating = options;
  beating.pingInterval = ping_interval;
  ws::Server heartbeat_server(beating);
  struct Case {
    Way way;
    Hold hold;
    std::unique_ptr<HoldingPeer> peer;
    std::unique_ptr<Seen> seen;
  };
  // Each socket is told apart by the client's port.
  std::map<std::uint16_t, Seen *> by_port;
  for (ws::Server *s : {&server, &heartbeat_server}) {
    s->onconnection = [&](WebSocket &socket, const ws::Request &req) {
      Seen *seen = by_port.at(req.remotePort);
      seen->opened = Clock::now();
      seen->attach(socket);
      seen->r.events.push_back("open");
    };
    s->listen(0, "127.0.0.1");
  }
  std::vector<Case> cases;
  for (const auto &way : ways(true))
    for (const auto &hold : holds) {
      auto seen = std::make_unique<Seen>();
      auto &s = way.heartbeat ? heartbeat_server : server;
      auto peer = std::make_unique<HoldingPeer>(s.port(), way.script, hold);
      by_port[peer->local_port()] = seen.get();
      cases.push_back({way, hold, std::move(peer), std::move(seen)});
    }
  run_and_check(cases);
}

TEST_CASE("failing the connection to a peer that does not read waits at most "
          "1 s for the close frame, not closeTimeout") {
  // Our close frame waits behind megabytes the peer will not take: TCP is
  // closed anyway (Chromium closes at once), with the same events.
  const std::string big(1 << 20, 'x');
  SECTION("client") {
    HoldingPeer peer(frame(TEXT, "hi", true, 0, true), std::nullopt, "", false);
    ws::ClientOptions options;
    options.closeTimeout = 30s;
    WebSocket socket(peer.url(), {}, options);
    Seen seen;
    seen.attach(socket);
    Clock::time_point queued;
    socket.addEventListener("open", [&](const ws::Event &) {
      for (int i = 0; i < 8; ++i)
        socket.send(big);
      queued = Clock::now();
    });
    wait_until([&] { return seen.closed.has_value(); }, 10s);
    CHECK(seen.r.events == std::vector<std::string>{"open", "error", "close"});
    CHECK(seen.r.closes[0].code == 1006);
    CHECK(socket.bufferedAmount() > 0); // it never went out
    INFO("close came " << ms(*seen.closed - queued) << " after the sends");
    CHECK(*seen.closed - queued < 1500ms);
  }
  SECTION("server") {
    ws::ServerOptions options;
    options.closeTimeout = 30s;
    ws::Server server(options);
    Seen seen;
    Clock::time_point queued;
    server.onconnection = [&](WebSocket &socket, const ws::Request &) {
      seen.attach(socket);
      seen.r.events.push_back("open");
      for (int i = 0; i < 8; ++i)
        socket.send(big);
      queued = Clock::now();
    };
    server.listen(0, "127.0.0.1");
    HoldingPeer peer(server.port(), frame(TEXT, "hi", true, 0, false),
                     std::nullopt, false);
    wait_until([&] { return seen.closed.has_value(); }, 10s);
    CHECK(seen.r.events == std::vector<std::string>{"open", "error", "close"});
    CHECK(seen.r.closes[0].code == 1006);
    INFO("close came " << ms(*seen.closed - queued) << " after the sends");
    CHECK(*seen.closed - queued < 1500ms);
  }
}

#if WS_TLS
TEST_CASE("server over TLS: failing the connection ends TLS and TCP at once, "
          "the client holding TCP for ever") {
  static test::TestCa ca;
  ws::ServerOptions options;
  options.certFile = ca.server;
  options.keyFile = ca.key;
  options.closeTimeout = 30s;
  ws::Server server(options);
  Seen seen;
  server.onconnection = [&](WebSocket &socket, const ws::Request &) {
    seen.opened = Clock::now();
    seen.attach(socket);
    seen.r.events.push_back("open");
  };
  server.listen(0, "127.0.0.1");
  // A TLS client that sends the upgrade and an unmasked frame, then reads
  // and never closes.
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  asio::ssl::stream<asio::ip::tcp::socket> tls(ws::detail::loop().ctx, ctx);
  tls.next_layer().connect(
      {asio::ip::make_address("127.0.0.1"), server.port()});
  const std::string out =
      test::upgrade_request() + frame(TEXT, "hi", true, 0, false);
  std::string received;
  std::array<char, 4096> buf;
  std::optional<Clock::time_point> ended;
  std::function<void()> read = [&] {
    tls.async_read_some(asio::buffer(buf),
                        [&](asio::error_code ec, std::size_t n) {
                          if (ec) {
                            ended = Clock::now();
                            return;
                          }
                          received.append(buf.data(), n);
                          read();
                        });
  };
  tls.async_handshake(asio::ssl::stream_base::client, [&](asio::error_code ec) {
    REQUIRE_FALSE(ec);
    asio::async_write(tls, asio::buffer(out),
                      [](asio::error_code, std::size_t) {});
    read();
  });
  wait_until([&] { return seen.closed && ended; });
  // The TLS stream ended with our close_notify; TCP must end too, not stay
  // open under a read that waits for the client.
  std::optional<Clock::time_point> tcp_ended;
  char byte;
  tls.next_layer().async_read_some(
      asio::buffer(&byte, 1),
      [&](asio::error_code, std::size_t) { tcp_ended = Clock::now(); });
  wait_until([&] { return tcp_ended.has_value(); });
  CHECK(seen.r.events == std::vector<std::string>{"open", "error", "close"});
  CHECK(seen.r.closes[0].code == 1006);
  INFO("close came " << ms(*seen.closed - *seen.opened) << ", TCP ended "
                     << ms(*ended - *seen.opened) << " after open");
  CHECK(*seen.closed - *seen.opened < prompt);
  CHECK(*ended - *seen.opened < prompt);
  CHECK(*tcp_ended - *seen.opened < prompt);
  const auto frames =
      test::parse_frames(received, received.find("\r\n\r\n") + 4);
  REQUIRE_FALSE(frames.empty());
  CHECK(frames.back().opcode == CLOSE);
  CHECK(frames.back().close_code() == 1002);
}
#endif
