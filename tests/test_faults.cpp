// Faults over real sockets: clients that vanish mid-frame, reset, half-close
// or stop reading; a server killed mid-stream; and nothing lost before a
// close. The server must free what is gone and keep serving the rest.
// SPDX-License-Identifier: MIT
#include "raw_client.hpp"

#include <thread>

using namespace std::chrono_literals;
using test::frame;
using namespace test::opcode;
using test::LoopPeer;
using test::Recorder;
using test::wait_until;
using ws::WebSocket;

namespace {

/// A chat-like server: every message goes to every open socket. It counts
/// the sockets it has seen close, and how.
struct Relay {
  ws::Server server;
  std::vector<ws::CloseEvent> closes;
  std::size_t errors = 0;
  std::size_t connections = 0;
  Relay() {
    server.onconnection = [this](WebSocket &s, const ws::Request &) {
      ++connections;
      s.onmessage = [this](const ws::MessageEvent &e) {
        server.broadcast(e.data);
      };
      s.onerror = [this](const ws::ErrorEvent &) { ++errors; };
      s.onclose = [this](const ws::CloseEvent &e) { closes.push_back(e); };
    };
    server.listen(0, "127.0.0.1");
  }
};

/// A well-behaved client that records what it receives.
struct Member {
  WebSocket socket;
  Recorder r;
  explicit Member(const Relay &relay) : socket(test::local_url(relay.server)) {
    r.attach(socket);
  }
};

/// The upgrade, then the first 10 bytes of a 1,000-byte masked frame.
std::string upgrade_and_half_a_frame() {
  return test::upgrade_request() +
         frame(BINARY, std::string(1000, 'x')).substr(0, 10);
}

} // namespace

TEST_CASE("clients that vanish, reset, half-close or stop reading are freed; "
          "the others chat on") {
  Relay relay;
  Member a(relay), b(relay);
  wait_until([&] { return relay.server.clients().size() == 2; });

  // Ten of each kind of bad client.
  std::vector<std::unique_ptr<LoopPeer>> vanish, reset, half, mute;
  for (int i = 0; i < 10; ++i) {
    vanish.push_back(std::make_unique<LoopPeer>(relay.server.port()));
    reset.push_back(std::make_unique<LoopPeer>(relay.server.port()));
    half.push_back(std::make_unique<LoopPeer>(relay.server.port()));
    mute.push_back(std::make_unique<LoopPeer>(relay.server.port(), false));
    for (auto *p : {vanish.back().get(), reset.back().get(), half.back().get()})
      p->send(upgrade_and_half_a_frame());
    mute.back()->send(test::upgrade_request());
  }
  wait_until([&] { return relay.server.clients().size() == 42; });
  for (auto &p : vanish)
    p->close();
  for (auto &p : reset)
    p->reset();
  for (auto &p : half)
    p->shutdown_send();
  // The 30 that left are freed: close 1006, and no error (a peer that
  // drops TCP has not broken the protocol: RFC 6455 7.1.7, WHATWG).
  wait_until([&] { return relay.closes.size() == 30; });
  CHECK(relay.errors == 0);
  for (const auto &c : relay.closes) {
    CHECK(c.code == 1006);
    CHECK_FALSE(c.wasClean);
  }
  CHECK(relay.server.clients().size() == 12);
  // The server closed its end for the half-closed ones.
  wait_until([&] {
    for (auto &p : half)
      if (!p->eof)
        return false;
    return true;
  });

  // The two members chat through, with ten clients that never read.
  for (int i = 0; i < 100; ++i)
    (i % 2 ? a : b).socket.send("line " + std::to_string(i));
  wait_until(
      [&] { return a.r.messages.size() == 100 && b.r.messages.size() == 100; });
  for (int i = 0; i < 100; ++i)
    CHECK(a.r.messages[i].data == b.r.messages[i].data);
  CHECK(relay.server.clients().size() == 12);
}

TEST_CASE("a server killed mid-stream: close 1006, no error, no hang") {
  test::Process server(
      {test::env("ECHO_SERVER"), "--port", "0", "--host", "127.0.0.1"});
  const std::string port = test::port_in(server.read_line());
  WebSocket socket("ws://127.0.0.1:" + port + "/");
  Recorder r;
  r.attach(socket);
  // A stream of 16 KiB messages, each sent when the last echo came.
  const std::string chunk(16 * 1024, 'k');
  socket.onopen = [&](const ws::Event &) { socket.send(chunk); };
  socket.onmessage = [&](const ws::MessageEvent &e) {
    r.messages.push_back(e);
    if (r.messages.size() == 50)
      server.signal(SIGKILL);
    socket.send(chunk);
  };
  wait_until([&] { return r.closed(); });
  CHECK(r.messages.size() >= 50);
  // (onopen and onmessage are the test's own, not the recorder's.)
  CHECK(r.events == std::vector<std::string>{"close"});
  CHECK(r.closes[0].code == 1006);
  CHECK_FALSE(r.closes[0].wasClean);
  CHECK(socket.readyState() == WebSocket::CLOSED);
}

TEST_CASE("a server's messages before its close() all arrive, in order") {
  ws::Server server;
  server.onconnection = [&](WebSocket &s, const ws::Request &) {
    for (int i = 0; i < 200; ++i)
      s.send(std::string(i * 100, 'a' + i % 26));
    s.close(4000, "done");
  };
  server.listen(0, "127.0.0.1");
  WebSocket socket(test::local_url(server));
  Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  REQUIRE(r.messages.size() == 200);
  for (int i = 0; i < 200; ++i)
    CHECK(r.messages[i].data == std::string(i * 100, 'a' + i % 26));
  CHECK(r.closes[0].code == 4000);
  CHECK(r.closes[0].reason == "done");
  CHECK(r.closes[0].wasClean);
}

TEST_CASE("sends from another thread before its close() all arrive") {
  test::EchoServer echo;
  std::vector<std::string> got;
  bool closed = false;
  echo.server.onconnection = [&](WebSocket &s, const ws::Request &) {
    s.onmessage = [&](const ws::MessageEvent &e) { got.push_back(e.data); };
    s.onclose = [&](const ws::CloseEvent &) { closed = true; };
  };
  WebSocket socket(echo.url());
  wait_until([&] { return socket.readyState() == WebSocket::OPEN; });
  std::thread sender([&] {
    for (int i = 0; i < 1000; ++i)
      socket.send(std::to_string(i));
    socket.close(1000);
  });
  wait_until([&] { return closed; });
  sender.join();
  REQUIRE(got.size() == 1000);
  for (int i = 0; i < 1000; ++i)
    CHECK(got[i] == std::to_string(i));
}
