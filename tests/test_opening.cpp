// handshakeTimeout bounds the whole opening handshake with one timer, in
// both roles: TCP connect, the proxy tunnel, TLS and the HTTP upgrade. Each
// phase stalled (a peer that never answers) fails within 0.5-1.0 s of a
// 500 ms limit, with an error that names the phase; the same phase answered
// at once or late, within the limit, opens.
// SPDX-License-Identifier: MIT
#include "forwarder.hpp"
#include "raw_client.hpp"
#if WS_TLS
#include "tls_certs.hpp"

#include <asio/ssl.hpp>
#endif

using namespace std::chrono_literals;
using test::Forwarder;
using test::wait_until;
using ws::WebSocket;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto opening_limit = 500ms;

ws::ClientOptions limited() {
  ws::ClientOptions o;
  o.handshakeTimeout = opening_limit;
  return o;
}

/// What a client saw of its opening, and how long it took.
struct Opening {
  test::Recorder r;
  Clock::duration took{};
};

Opening open_client(const std::string &url, const ws::ClientOptions &o) {
  Opening out;
  const auto start = Clock::now();
  WebSocket socket(url, {}, o);
  out.r.attach(socket);
  wait_until(
      [&] {
        return !out.r.events.empty() && out.r.events[0] == "open"
                   ? true
                   : out.r.closed();
      },
      5s);
  out.took = Clock::now() - start;
  return out;
}

void require_opened(const Opening &o) {
  REQUIRE(!o.r.events.empty());
  CHECK(o.r.events[0] == "open");
}

/// Failed by the timer: error naming the phase, close 1006, in 0.5-1.0 s.
void require_timed_out(const Opening &o, const std::string &phase) {
  CHECK(o.r.events == std::vector<std::string>{"error", "close"});
  REQUIRE(o.r.closed());
  CHECK(o.r.closes[0].code == 1006);
  CHECK_FALSE(o.r.closes[0].wasClean);
  REQUIRE(o.r.errors.size() == 1);
  INFO(o.r.errors[0]);
  CHECK(o.r.errors[0].find(phase + " timed out after 500 ms") !=
        std::string::npos);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(o.took).count();
  INFO("took " << ms << " ms");
  CHECK(ms >= 500);
  CHECK(ms < 1000);
}

/// A listening socket whose accept queue is full (backlog 0, two
/// connections nobody accepts): a new connection's SYN is dropped, so its
/// TCP connect hangs, as to a host that went away.
struct FullBacklog {
  asio::io_context io; // never run: nothing here is asynchronous
  asio::ip::tcp::acceptor acceptor{io};
  std::vector<int> fillers;
  FullBacklog() {
    acceptor.open(asio::ip::tcp::v4());
    acceptor.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor.listen(0);
    // Non-blocking connects: asio's connect() would wait for the second.
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(acceptor.local_endpoint().port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 2; ++i) {
      fillers.push_back(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
      connect(fillers.back(), reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    }
  }
  ~FullBacklog() {
    for (int fd : fillers)
      close(fd);
  }
  std::string url() const {
    return "ws://127.0.0.1:" +
           std::to_string(acceptor.local_endpoint().port()) + "/";
  }
};

} // namespace

TEST_CASE("client: handshakeTimeout bounds the TCP connect") {
  FullBacklog full;
  require_timed_out(open_client(full.url(), limited()), "TCP connect");
  // Through a proxy that cannot be reached the same way: it says which.
  ws::ClientOptions o = limited();
  o.proxy = "http://127.0.0.1:" +
            std::to_string(full.acceptor.local_endpoint().port());
  const Opening via = open_client("ws://127.0.0.1:1/", o);
  require_timed_out(via, "TCP connect");
  INFO(via.r.errors[0]);
  CHECK(via.r.errors[0].find("the proxy " + o.proxy +
                             " could not be reached") != std::string::npos);
  // A server that accepts at once opens.
  test::EchoServer echo;
  require_opened(open_client(echo.url(), limited()));
}

TEST_CASE("client: handshakeTimeout bounds the proxy tunnel") {
  test::EchoServer echo;
  for (auto delay : {0ms, 200ms}) {
    INFO("the proxy answers after " << delay.count() << " ms");
    Forwarder proxy(0, delay);
    ws::ClientOptions o = limited();
    o.proxy = proxy.proxy_url();
    require_opened(open_client(echo.url(), o));
  }
  Forwarder mute(0, std::nullopt);
  ws::ClientOptions o = limited();
  o.proxy = mute.proxy_url();
  const Opening never = open_client(echo.url(), o);
  require_timed_out(never, "Proxy tunnel");
  CHECK(never.r.errors[0].find("the proxy " + mute.proxy_url() +
                               " did not answer") != std::string::npos);
}

TEST_CASE("client: handshakeTimeout bounds the HTTP upgrade") {
  test::EchoServer echo;
  for (auto delay : {0ms, 200ms}) {
    INFO("the server answers after " << delay.count() << " ms");
    Forwarder slow(echo.server.port(), delay);
    require_opened(open_client(
        "ws://127.0.0.1:" + std::to_string(slow.port()) + "/", limited()));
  }
  Forwarder mute(echo.server.port(), std::nullopt);
  require_timed_out(
      open_client("ws://127.0.0.1:" + std::to_string(mute.port()) + "/",
                  limited()),
      "WebSocket handshake");
}

TEST_CASE("client: one timer spans the phases, not one per phase") {
  test::EchoServer echo;
  // The tunnel takes 300 ms and then the server never answers: the limit
  // is reached 200 ms into the upgrade, not 500 ms into it.
  Forwarder mute(echo.server.port(), std::nullopt);
  Forwarder proxy(0, 300ms);
  ws::ClientOptions o = limited();
  o.proxy = proxy.proxy_url();
  const Opening o1 =
      open_client("ws://127.0.0.1:" + std::to_string(mute.port()) + "/", o);
  require_timed_out(o1, "WebSocket handshake");
  CHECK(proxy.forwarded() == 1);
  // 200 ms of tunnel and 200 ms before the server speaks: within 500 ms.
  Forwarder slow(echo.server.port(), 200ms);
  Forwarder proxy2(0, 200ms);
  o.proxy = proxy2.proxy_url();
  require_opened(
      open_client("ws://127.0.0.1:" + std::to_string(slow.port()) + "/", o));
}

TEST_CASE("client: with reconnect, each attempt has its own limit") {
  test::EchoServer echo;
  Forwarder mute(echo.server.port(), std::nullopt);
  ws::ClientOptions o = limited();
  o.reconnect.enabled = true;
  o.reconnect.initialDelay = 10ms;
  o.reconnect.maxDelay = 10ms;
  o.reconnect.maxAttempts = 3;
  WebSocket socket("ws://127.0.0.1:" + std::to_string(mute.port()) + "/", {},
                   o);
  test::Recorder r;
  r.attach(socket);
  std::size_t reconnecting = 0;
  socket.addEventListener("reconnecting",
                          [&](const ws::Event &) { ++reconnecting; });
  const auto start = Clock::now();
  wait_until([&] { return r.closed(); }, 5s);
  const auto took = Clock::now() - start;
  CHECK(reconnecting == 3);
  CHECK(r.errors.size() == 4);
  for (const auto &e : r.errors)
    CHECK(e.find("WebSocket handshake timed out after 500 ms") !=
          std::string::npos);
  CHECK(took >= 4 * opening_limit);
  CHECK(took < 4 * opening_limit + 1s);
}

TEST_CASE("server: handshakeTimeout bounds the HTTP upgrade, from accept") {
  ws::ServerOptions so;
  so.handshakeTimeout = opening_limit;
  ws::Server server(so);
  std::size_t opened = 0;
  server.onconnection = [&](WebSocket &, const ws::Request &) { ++opened; };
  server.listen(0, "127.0.0.1");
  test::LoopPeer silent(server.port());
  test::LoopPeer half(server.port());
  half.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"); // and no more
  test::LoopPeer late(server.port());
  asio::steady_timer later(ws::detail::loop().ctx, 200ms);
  later.async_wait(
      [&](asio::error_code) { late.send(test::upgrade_request()); });
  const auto start = Clock::now();
  wait_until([&] { return silent.eof && half.eof; }, 5s);
  const auto took = Clock::now() - start;
  CHECK(took >= 450ms); // from accept, a moment before `start`
  CHECK(took < 1000ms);
  CHECK(silent.received.empty());
  wait_until([&] { return late.has_head(); });
  CHECK(late.status().rfind("HTTP/1.1 101", 0) == 0);
  CHECK(opened == 1);
  CHECK_FALSE(late.eof);
}

#if WS_TLS
namespace {

const test::TestCa &opening_certs() {
  static test::TestCa ca;
  return ca;
}

ws::ServerOptions tls_server(std::chrono::milliseconds limit) {
  ws::ServerOptions o;
  o.certFile = opening_certs().server;
  o.keyFile = opening_certs().key;
  o.handshakeTimeout = limit;
  return o;
}

} // namespace

TEST_CASE("client: handshakeTimeout bounds the TLS handshake") {
  ws::Server server(tls_server(10s));
  server.listen(0, "127.0.0.1");
  ws::ClientOptions o = limited();
  o.caFile = opening_certs().ca;
  for (auto delay : {0ms, 200ms}) {
    INFO("the server speaks TLS after " << delay.count() << " ms");
    Forwarder slow(server.port(), delay);
    require_opened(
        open_client("wss://localhost:" + std::to_string(slow.port()) + "/", o));
  }
  // Accepts TCP, never speaks TLS: before, websocketpp's compile-time 10 s.
  Forwarder mute(server.port(), std::nullopt);
  require_timed_out(
      open_client("wss://localhost:" + std::to_string(mute.port()) + "/", o),
      "TLS handshake");
}

TEST_CASE("server: handshakeTimeout bounds TLS and then the upgrade, from "
          "accept") {
  ws::Server server(tls_server(opening_limit));
  std::size_t opened = 0;
  server.onconnection = [&](WebSocket &, const ws::Request &) { ++opened; };
  server.listen(0, "127.0.0.1");
  // A half-opened TLS socket: TCP, then nothing.
  test::LoopPeer silent(server.port());
  // TLS done at once, then no upgrade request.
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  asio::ssl::stream<asio::ip::tcp::socket> tls(ws::detail::loop().ctx, ctx);
  tls.next_layer().connect(
      {asio::ip::make_address("127.0.0.1"), server.port()});
  bool handshaken = false;
  tls.async_handshake(asio::ssl::stream_base::client,
                      [&](asio::error_code ec) { handshaken = !ec; });
  const auto start = Clock::now();
  wait_until([&] { return handshaken; });
  char byte;
  bool tls_ended = false;
  tls.async_read_some(asio::buffer(&byte, 1),
                      [&](asio::error_code, std::size_t) { tls_ended = true; });
  wait_until([&] { return silent.eof && tls_ended; }, 5s);
  const auto took = Clock::now() - start;
  CHECK(took >= 450ms);
  CHECK(took < 1000ms);
  CHECK(opened == 0);
  // Late but within the limit, a whole TLS client still opens.
  Forwarder slow(server.port(), 200ms);
  ws::ClientOptions o;
  o.caFile = opening_certs().ca;
  require_opened(
      open_client("wss://localhost:" + std::to_string(slow.port()) + "/", o));
  CHECK(opened == 1);
}
#endif
