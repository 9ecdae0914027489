// The limits a server on the internet needs, each with its default: message
// size, handshake time and size, slow readers, heartbeats, the close
// handshake, origins and the number of connections.
// SPDX-License-Identifier: MIT
#include "raw_client.hpp"

using namespace std::chrono_literals;
using test::frame;
using namespace test::opcode;
using test::LoopPeer;
using test::Recorder;
using test::wait_until;
using ws::WebSocket;

namespace {

/// An echo server with the given options (it also records its sockets).
struct Echo {
  ws::Server server;
  std::vector<WebSocket *> sockets;
  Recorder r; // the last socket's events
  explicit Echo(const ws::ServerOptions &o = {}) : server(o) {
    server.onconnection = [this](WebSocket &s, const ws::Request &) {
      sockets.push_back(&s);
      r.attach(s);
      s.onmessage = [&s](const ws::MessageEvent &e) {
        s.send(e.data, {e.isBinary});
      };
    };
    server.listen(0, "127.0.0.1");
  }
  std::string url() const { return test::local_url(server); }
  std::uint16_t port() const { return server.port(); }
};

/// A client that must reach OPEN.
struct Client {
  WebSocket socket;
  Recorder r;
  explicit Client(const std::string &url, const ws::ClientOptions &o = {})
      : socket(url, {}, o) {
    r.attach(socket);
  }
  void wait_open() {
    wait_until([&] { return socket.readyState() == WebSocket::OPEN; });
  }
  /// An echo round trip works.
  void echoes(const std::string &text) {
    const auto before = r.messages.size();
    socket.send(text);
    wait_until([&] { return r.messages.size() > before; });
    REQUIRE(r.messages.back().data == text);
  }
};

/// The server's answer to an upgrade request with `extra_headers`.
std::string answer_to(std::uint16_t port, const std::string &extra_headers) {
  LoopPeer peer(port);
  peer.send(test::upgrade_request(extra_headers));
  wait_until([&] { return peer.has_head() || peer.eof; });
  return peer.received;
}

/// A server that completes the upgrade, then neither reads nor answers.
std::unique_ptr<test::ScriptedServer> deaf_server() {
  auto server = std::make_unique<test::ScriptedServer>(
      [](const std::string &) { return std::string(); });
  auto *s = server.get();
  s->respond = [s](const std::string &) { return s->upgrade(); };
  s->then_close = false;
  s->hold_open = true;
  return server;
}

ws::Binary bytes(std::size_t n) { return ws::Binary(n, 0x5A); }

} // namespace

TEST_CASE("the defaults are the documented ones") {
  ws::ServerOptions s;
  CHECK(s.maxPayload == 16u * 1024 * 1024);
  CHECK(s.maxBufferedAmount == 16u * 1024 * 1024);
  CHECK(s.handshakeTimeout == 10s);
  CHECK(s.closeTimeout == 5s);
  CHECK(s.pingInterval == 0s);
  CHECK(s.maxConnections == 0);
  ws::ClientOptions c;
  CHECK(c.maxPayload == 16u * 1024 * 1024);
  CHECK(c.handshakeTimeout == 10s);
  CHECK(c.pingInterval == 0s);
}

TEST_CASE("maxPayload: a 16 MiB message passes, one byte more closes 1009") {
  Echo echo; // the defaults, both sides
  Client c(echo.url());
  c.wait_open();
  c.socket.send(bytes(16 * 1024 * 1024));
  wait_until([&] { return !c.r.messages.empty(); });
  CHECK(c.r.messages[0].data.size() == 16u * 1024 * 1024);

  c.socket.send(bytes(16 * 1024 * 1024 + 1));
  wait_until([&] { return c.r.closed() && echo.r.closed(); });
  CHECK(c.r.closes[0].code == 1009);
  CHECK(c.r.messages.size() == 1);
  // The server failed the connection: error, then close 1006, as a browser.
  CHECK(echo.r.events == std::vector<std::string>{"error", "close"});
  CHECK(echo.r.closes[0].code == 1006);
}

TEST_CASE("maxPayload is the server's choice, and counts whole messages") {
  ws::ServerOptions o;
  o.maxPayload = 1000;
  Echo echo(o);
  Client c(echo.url());
  c.wait_open();
  c.echoes(std::string(1000, 'x'));
  // Ten fragments of 101 bytes: no frame is too big, the message is.
  LoopPeer peer(echo.port());
  peer.send(test::upgrade_request());
  for (int i = 0; i < 10; ++i)
    peer.send(frame(i == 0 ? TEXT : 0, std::string(101, 'y'), i == 9));
  wait_until([&] { return peer.eof; });
  auto frames = peer.frames();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].opcode == CLOSE);
  CHECK(frames[0].close_code() == 1009);
  c.echoes("still here");
}

TEST_CASE("maxPayload on the client: a message too big fails it") {
  Echo echo;
  ws::ClientOptions o;
  o.maxPayload = 1024;
  Client c(echo.url(), o);
  c.wait_open();
  c.echoes(std::string(1024, 'x'));
  c.socket.send(std::string(1025, 'x'));
  wait_until([&] { return c.r.closed() && echo.r.closed(); });
  CHECK(c.r.events.back() == "close");
  CHECK(c.r.errors.size() == 1);
  CHECK(c.r.closes[0].code == 1006);
  CHECK(echo.r.closes[0].code == 1009); // what the server was told
}

TEST_CASE("an upgrade that does not complete in time is dropped") {
  ws::ServerOptions o;
  o.handshakeTimeout = 300ms;
  Echo echo(o);
  LoopPeer silent(echo.port());
  LoopPeer slow(echo.port());
  slow.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"); // and no more
  const auto start = std::chrono::steady_clock::now();
  wait_until([&] { return silent.eof && slow.eof; });
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= 250ms);
  CHECK(took < 5s);
  CHECK(silent.received.empty());
  // Meanwhile and afterwards, others are served.
  Client c(echo.url());
  c.wait_open();
  c.echoes("hello");
}

TEST_CASE("the client gives up on a server that never answers the upgrade") {
  test::ScriptedServer mute([](const std::string &) { return std::string(); });
  mute.hold_open = true;
  ws::ClientOptions o;
  o.handshakeTimeout = 300ms;
  Client c(mute.url(), o);
  wait_until([&] { return c.r.closed(); });
  CHECK(c.r.events == std::vector<std::string>{"error", "close"});
  CHECK(c.r.closes[0].code == 1006);
  CHECK_FALSE(c.r.closes[0].wasClean);
}

TEST_CASE("request headers over 16,000 bytes get 431 and the connection ends") {
  Echo echo;
  LoopPeer peer(echo.port());
  peer.send(
      test::upgrade_request("X-Big: " + std::string(20000, 'a') + "\r\n"));
  wait_until([&] { return peer.eof; });
  CHECK(peer.status().rfind("HTTP/1.1 431", 0) == 0);
  // Just under the limit is fine.
  CHECK(answer_to(echo.port(), "X-Big: " + std::string(15000, 'a') + "\r\n")
            .rfind("HTTP/1.1 101", 0) == 0);
}

TEST_CASE("only WebSocket version 13 is spoken: others get 426") {
  Echo echo;
  LoopPeer peer(echo.port());
  peer.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  wait_until([&] { return peer.has_head(); });
  CHECK(peer.status().rfind("HTTP/1.1 426", 0) == 0);
  CHECK(peer.received.find("Sec-WebSocket-Version: 13\r\n") !=
        std::string::npos);
}

TEST_CASE("a client that stops reading is closed past maxBufferedAmount") {
  ws::ServerOptions o;
  o.maxBufferedAmount = 256 * 1024;
  o.closeTimeout = 300ms;
  Echo echo(o);
  Client other(echo.url());
  other.wait_open();
  LoopPeer stuck(echo.port(), /*read=*/false);
  stuck.send(test::upgrade_request());
  wait_until([&] { return echo.sockets.size() == 2; });
  WebSocket &slow = *echo.sockets[1];
  Recorder r;
  r.attach(slow);

  // Broadcast 64 KiB at a time, each once the reader that keeps up has the
  // last, until the server gives up on the stuck one: the kernel's buffers
  // fill first, then bufferedAmount grows.
  const std::string chunk(64 * 1024, 'b');
  std::uint64_t most = 0;
  std::size_t sent = 0;
  for (; sent < 2000 && slow.readyState() == WebSocket::OPEN; ++sent) {
    echo.server.broadcast(chunk);
    wait_until([&] { return other.r.messages.size() == sent + 1; });
    most = std::max(most, slow.bufferedAmount());
  }
  REQUIRE(slow.readyState() == WebSocket::CLOSING);
  // The message that found it over the limit is dropped and, as any send()
  // once closing, stays counted.
  CHECK(most <= o.maxBufferedAmount + 2 * chunk.size());
  // It never answers our close frame: dropped after closeTimeout.
  wait_until([&] { return r.closed(); });
  CHECK(r.closes[0].code == 1006);
  CHECK_FALSE(r.closes[0].wasClean);
  // The reader that keeps up got every message, and still works.
  CHECK(other.r.messages.size() == sent);
  other.echoes("still here");
}

TEST_CASE("heartbeat: a client that answers pings stays, a silent one goes") {
  ws::ServerOptions o;
  o.pingInterval = 100ms;
  Echo echo(o);
  LoopPeer answers(echo.port());
  answers.send(test::upgrade_request());
  wait_until([&] { return echo.sockets.size() == 1; });
  LoopPeer silent(echo.port());
  silent.send(test::upgrade_request());
  wait_until([&] { return echo.sockets.size() == 2; });
  Recorder r;
  r.attach(*echo.sockets[1]);
  WebSocket &live = *echo.sockets[0];

  // Answer each ping as a browser would, until five have come.
  std::size_t answered = 0;
  wait_until([&] {
    auto frames = answers.frames();
    for (; answered < frames.size(); ++answered) {
      REQUIRE(frames[answered].opcode == PING);
      answers.send(frame(PONG, frames[answered].payload));
    }
    return answered >= 5;
  });
  CHECK(live.readyState() == WebSocket::OPEN);
  // The silent one was found within about two intervals, long before.
  REQUIRE(r.closed());
  CHECK(r.events == std::vector<std::string>{"error", "close"});
  CHECK(r.errors[0].find("pong") != std::string::npos);
  CHECK(r.closes[0].code == 1006);
  wait_until([&] { return silent.eof; });
}

TEST_CASE("heartbeat on the client: a server that never pongs is dropped") {
  auto deaf = deaf_server();
  ws::ClientOptions o;
  o.pingInterval = 100ms;
  Client c(deaf->url(), o);
  const auto start = std::chrono::steady_clock::now();
  wait_until([&] { return c.r.closed(); });
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(c.r.events == std::vector<std::string>{"open", "error", "close"});
  CHECK(c.r.closes[0].code == 1006);
  CHECK(took >= 150ms);
  CHECK(took < 2s);

  // Against a server that answers (ours), it stays open ping after ping.
  Echo echo;
  Client live(echo.url(), o);
  live.wait_open();
  const auto opened = std::chrono::steady_clock::now();
  // The heartbeat's own timer wakes the loop every 100 ms.
  ws::runUntil(
      [&] {
        return std::chrono::steady_clock::now() - opened > 600ms ||
               live.r.closed();
      },
      5s);
  CHECK(live.socket.readyState() == WebSocket::OPEN);
  live.echoes("alive");
}

TEST_CASE("a flood of pings the client does not read: few pongs, the last "
          "ping answered") {
  Echo echo;
  LoopPeer flood(echo.port(), /*read=*/false);
  flood.send(test::upgrade_request());
  wait_until([&] { return echo.sockets.size() == 1; });
  const std::string ping = frame(PING, std::string(125, 'p'));
  std::string burst;
  for (int i = 0; i < 1000; ++i)
    burst += ping;
  // 100,000 pings of 125 bytes: 12.7 MB of pongs if each were answered,
  // more than the kernel's buffers between us hold (4 MB here).
  for (int i = 0; i < 100; ++i)
    flood.send(burst);
  flood.send(frame(PING, "newest"));
  flood.send(frame(TEXT, "last"));
  wait_until([&] { return flood.flushed(); });
  // Now read: the echo of "last" comes after far fewer pongs than pings,
  // and the newest ping gets its pong (RFC 6455 5.5.3 lets older ones go
  // unanswered, never the most recent).
  flood.start_reading();
  auto has = [&](int opcode, const std::string &payload) {
    for (const auto &f : flood.frames())
      if (f.opcode == opcode && f.payload == payload)
        return true;
    return false;
  };
  wait_until([&] { return has(TEXT, "last") && has(PONG, "newest"); });
  const auto frames = flood.frames();
  INFO(frames.size() << " pongs for 100,001 pings");
  CHECK(frames.size() < 50000);
  CHECK(frames.front().opcode == PONG);
}

TEST_CASE("a peer that never answers our close is dropped: wasClean false") {
  auto deaf = deaf_server();
  ws::ClientOptions o;
  o.closeTimeout = 300ms;
  Client c(deaf->url(), o);
  c.wait_open();
  const auto start = std::chrono::steady_clock::now();
  c.socket.close(1000);
  wait_until([&] { return c.r.closed(); });
  CHECK(std::chrono::steady_clock::now() - start >= 250ms);
  CHECK(c.r.closes[0].code == 1006);
  CHECK_FALSE(c.r.closes[0].wasClean);
  CHECK(c.r.errors.empty()); // we closed it: no error, as a browser

  // The server side: a client that never answers the server's close.
  ws::ServerOptions so;
  so.closeTimeout = 300ms;
  Echo echo(so);
  LoopPeer peer(echo.port());
  peer.send(test::upgrade_request());
  wait_until([&] { return echo.sockets.size() == 1; });
  echo.sockets[0]->close(1000);
  wait_until([&] { return echo.r.closed(); });
  CHECK_FALSE(echo.r.closes[0].wasClean);
  CHECK(echo.r.closes[0].code == 1006);
  CHECK(peer.frames().at(0).close_code() == 1000);
}

TEST_CASE("allowedOrigins: other origins get 403, no Origin passes") {
  ws::ServerOptions o;
  o.allowedOrigins = {"https://chat.example.com", "http://localhost:8000"};
  Echo echo(o);
  auto status = [&](const std::string &headers) {
    auto answer = answer_to(echo.port(), headers);
    return answer.substr(0, answer.find("\r\n"));
  };
  CHECK(status("Origin: https://evil.example.com\r\n") ==
        "HTTP/1.1 403 Forbidden");
  CHECK(status("Origin: https://chat.example.com.evil.com\r\n") ==
        "HTTP/1.1 403 Forbidden");
  CHECK(status("Origin: null\r\n") == "HTTP/1.1 403 Forbidden");
  CHECK(status("Origin: https://chat.example.com\r\n") ==
        "HTTP/1.1 101 Switching Protocols");
  CHECK(status("Origin: HTTP://LOCALHOST:8000\r\n") ==
        "HTTP/1.1 101 Switching Protocols");
  CHECK(status("") == "HTTP/1.1 101 Switching Protocols");
  CHECK(echo.sockets.size() == 3);
}

TEST_CASE("verifyClient sees the request; false answers 403") {
  Echo echo;
  std::vector<std::string> seen;
  echo.server.verifyClient = [&](const ws::Request &req) {
    seen.push_back(req.header("Cookie"));
    return req.header("Cookie") == "session=ok";
  };
  CHECK(answer_to(echo.port(), "Cookie: session=bad\r\n")
            .rfind("HTTP/1.1 403", 0) == 0);
  CHECK(answer_to(echo.port(), "Cookie: session=ok\r\n")
            .rfind("HTTP/1.1 101", 0) == 0);
  CHECK(seen == std::vector<std::string>{"session=bad", "session=ok"});
  // A client refused this way sees the handshake fail.
  Client c(echo.url());
  wait_until([&] { return c.r.closed(); });
  CHECK(c.r.errors.at(0).find("403") != std::string::npos);
  CHECK(c.r.closes[0].code == 1006);
}

TEST_CASE("maxConnections: past it new upgrades get 503, the open stay") {
  ws::ServerOptions o;
  o.maxConnections = 2;
  Echo echo(o);
  Client a(echo.url()), b(echo.url());
  a.wait_open();
  b.wait_open();
  Client refused(echo.url());
  wait_until([&] { return refused.r.closed(); });
  CHECK(refused.r.errors.at(0).find("503") != std::string::npos);
  a.echoes("a");
  b.echoes("b");
  // A place frees up when one leaves.
  a.socket.close();
  wait_until([&] { return a.r.closed() && echo.server.clients().size() == 1; });
  Client next(echo.url());
  next.wait_open();
  next.echoes("next");
}
