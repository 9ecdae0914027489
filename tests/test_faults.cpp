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

TEST_CASE("a server out of descriptors waits to accept again, not spinning, "
          "and takes the connections that waited once some are free") {
  // echo_server with room for a dozen sockets (besides what it inherits
  // from this process and its own few).
  const std::size_t limit = test::descriptors() + 20;
  // (What it inherits above the limit cannot count against it.)
  test::Process server({"/bin/sh", "-c",
                        "ulimit -n " + std::to_string(limit) +
                            " && exec \"$0\" --port 0 --host 127.0.0.1",
                        test::env("ECHO_SERVER")});
  const auto port =
      static_cast<std::uint16_t>(std::stoi(test::port_in(server.read_line())));
  const pid_t pid = server.pid();
  const std::size_t own = test::descriptors(pid, limit);
  std::vector<std::unique_ptr<LoopPeer>> peers;
  auto upgraded = [&] {
    std::size_t n = 0;
    for (auto &p : peers)
      n += p->status() == "HTTP/1.1 101 Switching Protocols";
    return n;
  };
  for (int i = 0; i < 40; ++i) {
    peers.push_back(std::make_unique<LoopPeer>(port));
    peers.back()->send(test::upgrade_request());
  }
  // Those it could take are answered; the rest wait in its listen queue.
  std::size_t now = 0;
  INFO("limit " << limit << ", its own " << own);
  wait_until([&] {
    now = test::descriptors(pid, limit);
    return now == limit && upgraded() == now - own;
  });
  INFO("at the limit it holds " << now);
  const std::size_t first = upgraded();
  const double cpu_before = test::cpu_seconds(pid);
  const auto held = GENERATE(0ms, 2500ms);
  INFO("descriptors short for " << held.count() << " ms");
  ws::runUntil([] { return false; }, std::max(held, 1000ms));
  CHECK(upgraded() == first);
  // Spinning on accept() would take the whole second (or more).
  CHECK(test::cpu_seconds(pid) - cpu_before < 0.2);
  // Ten leave: ten of those waiting are taken, within the longest wait
  // between tries (1 s) and a margin.
  for (std::size_t i = 0, gone = 0; gone < 10; ++i)
    if (peers[i]->status() == "HTTP/1.1 101 Switching Protocols") {
      peers[i]->reset(); // (what it received stays: it still counts)
      ++gone;
    }
  wait_until([&] { return upgraded() >= first + 10; }, 3s);
}

TEST_CASE("a program a ws program starts holds none of its sockets: the "
          "port is free again once the server closes") {
  const auto before = test::sockets();
  ws::Server server;
  std::size_t opened = 0;
  server.onconnection = [&](WebSocket &, const ws::Request &) { ++opened; };
  server.listen(0, "127.0.0.1");
  const std::uint16_t port = server.port();
  WebSocket client(test::local_url(server));
  wait_until(
      [&] { return opened == 1 && client.readyState() == WebSocket::OPEN; });
  auto ours = test::sockets();
  for (const auto &s : before)
    ours.erase(s);
  // The listening socket, the client's and the one it was accepted as.
  REQUIRE(ours.size() >= 3);
  // As a program that runs a helper (a shell, a converter) would.
  test::Process child({"/bin/sleep", "30"});
  const auto inherited = test::sockets(child.pid());
  for (const auto &s : ours) {
    INFO(s);
    CHECK(inherited.count(s) == 0);
  }
  // What that means to a user: a server that closes while its child lives
  // on leaves the port free for the next one (a socket the child held open
  // would still listen there).
  client.close();
  server.close();
  wait_until([&] { return client.readyState() == WebSocket::CLOSED; });
  ws::Server next;
  CHECK_NOTHROW(next.listen(port, "127.0.0.1"));
}
