// Dead links: no FIN, no RST, just silence. Through test::Forwarder (a TCP
// forwarder of ours that can blackhole, heal, reset and slow a link, since
// this kernel has no netem), the heartbeat must find a silent peer in
// bounded time, in both roles, and a slow link must lose nothing and fail
// no heartbeat.
// SPDX-License-Identifier: MIT
#include "forwarder.hpp"

using namespace std::chrono_literals;
using test::Forwarder;
using ws::WebSocket;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_from(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// A relay with a heartbeat: every message goes to every socket in the
/// room. It keeps the close events of its sockets.
struct HeartbeatRoom {
  ws::Server server;
  std::vector<ws::CloseEvent> closes;
  std::vector<std::string> errors;
  explicit HeartbeatRoom(std::chrono::milliseconds ping)
      : server(options(ping)) {
    server.onconnection = [this](WebSocket &s, const ws::Request &) {
      s.subscribe("room");
      s.onmessage = [this](const ws::MessageEvent &e) {
        server.publish("room", e.data);
      };
      s.onerror = [this](const ws::ErrorEvent &e) {
        errors.push_back(e.message);
      };
      s.onclose = [this](const ws::CloseEvent &e) { closes.push_back(e); };
    };
    server.listen(0, "127.0.0.1");
  }
  ~HeartbeatRoom() { server.close(); }
  static ws::ServerOptions options(std::chrono::milliseconds ping) {
    ws::ServerOptions o;
    o.pingInterval = ping;
    return o;
  }
};

} // namespace

TEST_CASE("a server with a heartbeat finds a blackholed client within two "
          "intervals, and the socket leaves its topics") {
  // The link goes silent at once, and after traffic; a blackhole shorter
  // than the interval fails nothing.
  for (const char *when : {"at once", "after traffic", "for 150 ms"}) {
    CAPTURE(when);
    HeartbeatRoom room(400ms);
    Forwarder link(room.server.port());
    WebSocket client(link.url());
    int echoes = 0;
    client.onmessage = [&](const ws::MessageEvent &) { ++echoes; };
    REQUIRE(ws::runUntil(
        [&] {
          return room.server.subscriberCount("room") == 1 &&
                 client.readyState() == WebSocket::OPEN;
        },
        5s));
    if (std::string(when) == "after traffic") {
      for (int i = 0; i < 50; ++i)
        client.send("line " + std::to_string(i));
      REQUIRE(ws::runUntil([&] { return echoes == 50; }, 5s));
    }
    const auto start = Clock::now();
    link.blackhole();
    if (std::string(when) == "for 150 ms") {
      ws::setTimeout([&] { link.heal(); }, 150);
      // Three intervals and more: the heartbeat goes on, nothing fails.
      ws::runUntil([] { return false; }, 1500ms);
      CHECK(room.closes.empty());
      CHECK(room.server.subscriberCount("room") == 1);
      client.send("still here");
      REQUIRE(ws::runUntil([&] { return echoes >= 1; }, 5s));
      continue;
    }
    REQUIRE(ws::runUntil([&] { return !room.closes.empty(); }, 5s));
    const double took = seconds_from(start);
    CHECK(took >= 0.35);
    CHECK(took <= 2 * 0.4 + 0.3);
    CHECK(room.closes[0].code == 1006);
    CHECK(!room.closes[0].wasClean);
    CHECK(room.errors.size() == 1);
    CHECK(room.server.subscriberCount("room") == 0);
    CHECK(room.server.clients().empty());
  }
}

TEST_CASE("a reconnecting client finds a blackholed server by its heartbeat, "
          "retries with back-off and opens again when the path heals") {
  for (auto outage : {1500ms, 4000ms}) {
    CAPTURE(outage.count());
    HeartbeatRoom room(0ms);
    Forwarder link(room.server.port());
    ws::ClientOptions options;
    options.pingInterval = 300ms;
    options.handshakeTimeout = 500ms;
    options.reconnect.enabled = true;
    options.reconnect.initialDelay = 200ms;
    options.reconnect.maxDelay = 1000ms;
    WebSocket client(link.url(), {}, options);
    int opens = 0, closes = 0;
    std::vector<ws::ReconnectingEvent> retries;
    std::vector<std::string> got;
    client.onopen = [&](const ws::Event &) {
      ++opens;
      client.send("open " + std::to_string(opens));
    };
    client.onmessage = [&](const ws::MessageEvent &e) {
      got.push_back(e.data);
    };
    client.onreconnecting = [&](const ws::ReconnectingEvent &e) {
      retries.push_back(e);
    };
    client.onclose = [&](const ws::CloseEvent &) { ++closes; };
    REQUIRE(ws::runUntil([&] { return got.size() == 1; }, 5s));
    const auto start = Clock::now();
    link.blackhole();
    REQUIRE(ws::runUntil([&] { return !retries.empty(); }, 5s));
    CHECK(seconds_from(start) <= 2 * 0.3 + 0.3);
    CHECK(retries[0].code == 1006);
    ws::setTimeout(
        [&] { link.heal(); },
        std::max<long>(0, outage.count() - long(seconds_from(start) * 1000)));
    REQUIRE(ws::runUntil([&] { return opens == 2; }, outage + 5s));
    CHECK(seconds_from(start) >= outage.count() / 1000.0 - 0.05);
    REQUIRE(ws::runUntil([&] { return got.size() == 2; }, 5s));
    CHECK(got[1] == "open 2");
    CHECK(closes == 0);
    // Attempts made during the outage were bounded by handshakeTimeout
    // and spaced by the back-off: more than one in the longer outage.
    if (outage > 3s) {
      CHECK(retries.size() >= 3);
      bool growing = true;
      for (std::size_t i = 1; i < retries.size(); ++i)
        growing = growing && retries[i].attempt == retries[i - 1].attempt + 1;
      CHECK(growing);
    }
    client.close();
    REQUIRE(ws::runUntil([&] { return closes == 1; }, 5s));
  }
}

TEST_CASE("a link reset under an open connection: close 1006 on both ends at "
          "once") {
  HeartbeatRoom room(0ms);
  Forwarder link(room.server.port());
  WebSocket client(link.url());
  std::optional<ws::CloseEvent> closed;
  client.onclose = [&](const ws::CloseEvent &e) { closed = e; };
  REQUIRE(ws::runUntil(
      [&] {
        return room.server.subscriberCount("room") == 1 &&
               client.readyState() == WebSocket::OPEN;
      },
      5s));
  const auto start = Clock::now();
  link.reset();
  REQUIRE(ws::runUntil([&] { return closed && !room.closes.empty(); }, 5s));
  CHECK(seconds_from(start) < 0.5);
  CHECK(closed->code == 1006);
  CHECK(room.closes[0].code == 1006);
}

TEST_CASE("a slow link (200 ms each way, 64 KiB/s) delivers every line once "
          "and in order, and fails no heartbeat") {
  HeartbeatRoom room(1000ms); // the interval is over the 400 ms round trip
  Forwarder link(room.server.port());
  link.slow(200ms, 64 * 1024);
  ws::ClientOptions options;
  options.pingInterval = 1000ms;
  WebSocket alice(link.url(), {}, options), bob(link.url(), {}, options);
  std::vector<std::string> heard;
  int errors = 0, closes = 0;
  for (WebSocket *s : {&alice, &bob}) {
    s->onerror = [&](const ws::ErrorEvent &) { ++errors; };
    s->onclose = [&](const ws::CloseEvent &) { ++closes; };
  }
  bob.onmessage = [&](const ws::MessageEvent &e) { heard.push_back(e.data); };
  REQUIRE(ws::runUntil(
      [&] {
        return room.server.subscriberCount("room") == 2 &&
               alice.readyState() == WebSocket::OPEN &&
               bob.readyState() == WebSocket::OPEN;
      },
      10s));
  // 200 lines of 1 KiB: about 3 s of the link's rate each way.
  const auto start = Clock::now();
  for (int i = 0; i < 200; ++i) {
    std::string line = std::to_string(i) + ":";
    line.resize(1024, 'x');
    alice.send(line);
  }
  REQUIRE(ws::runUntil([&] { return heard.size() >= 200; }, 30s));
  CHECK(seconds_from(start) >= 2.5); // the rate held
  // Two intervals more: a heartbeat that would fail on the link does.
  ws::runUntil([] { return false; }, 2500ms);
  CHECK(heard.size() == 200);
  bool in_order = true;
  for (int i = 0; i < int(heard.size()); ++i)
    in_order = in_order && std::stoi(heard[i]) == i;
  CHECK(in_order);
  CHECK(errors == 0);
  CHECK(closes == 0);
  CHECK(room.closes.empty());
}
