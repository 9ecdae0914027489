// The threading contract: send() and close() from other threads, and
// destroying sockets while the loop runs.
// SPDX-License-Identifier: MIT
#include "support.hpp"

#include <atomic>
#include <optional>
#include <thread>

using test::wait_until;
using namespace std::chrono_literals;

TEST_CASE("send() from 4 threads at once: nothing lost, order kept per "
          "thread") {
  ws::Server server;
  std::vector<std::string> got;
  server.onconnection = [&](ws::WebSocket &s, const ws::Request &) {
    s.onmessage = [&](const ws::MessageEvent &e) { got.push_back(e.data); };
  };
  server.listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(server));
  wait_until([&] { return socket.readyState() == ws::WebSocket::OPEN; });

  constexpr int threads = 4, each = 2000;
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t)
    senders.emplace_back([&socket, t] {
      for (int i = 0; i < each; ++i)
        socket.send(std::to_string(t) + ":" + std::to_string(i));
    });
  // This thread runs the loop meanwhile, as a program would.
  wait_until([&] { return got.size() == threads * each; }, 30s);
  for (auto &s : senders)
    s.join();
  std::vector<int> next(threads, 0);
  for (const auto &m : got) {
    int t = std::stoi(m.substr(0, m.find(':')));
    int i = std::stoi(m.substr(m.find(':') + 1));
    REQUIRE(i == next[t]);
    ++next[t];
  }
  CHECK(next == std::vector<int>(threads, each));
  wait_until([&] { return socket.bufferedAmount() == 0; });
}

TEST_CASE("server sockets and broadcast are safe from other threads") {
  ws::Server server;
  std::optional<ws::WebSocket> accepted; // a handle the thread keeps
  std::atomic<bool> ready{false};
  server.onconnection = [&](ws::WebSocket &s, const ws::Request &) {
    accepted = s;
    ready = true;
  };
  server.listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(server));
  std::vector<std::string> got;
  socket.onmessage = [&](const ws::MessageEvent &e) { got.push_back(e.data); };
  wait_until([&] { return ready.load(); });
  std::thread t([socket = *accepted, &server]() mutable {
    for (int i = 0; i < 100; ++i) {
      socket.send("direct " + std::to_string(i));
      server.broadcast("all " + std::to_string(i));
    }
  });
  wait_until([&] { return got.size() == 200; });
  t.join();
}

TEST_CASE("close() from another thread while the loop runs") {
  test::OpenClient o;
  auto &socket = o.socket;
  auto &r = o.r;
  auto &echo = o.echo;
  std::atomic<unsigned short> state_after_close{0};
  std::thread t([&] {
    socket.send("last words");
    socket.close(4000, "from a thread");
    // Catch2 is not thread-safe: check on the main thread.
    state_after_close = socket.readyState();
  });
  wait_until([&] { return r.closed(); });
  t.join();
  // CLOSING at once; CLOSED if the loop finished the close meanwhile.
  CHECK(state_after_close >= ws::WebSocket::CLOSING);
  CHECK(r.closes[0].code == 4000);
  CHECK(r.closes[0].reason == "from a thread");
  REQUIRE(!echo.closes.empty());
}

TEST_CASE("destroying sockets from other threads while the loop runs") {
  test::EchoServer echo;
  std::vector<std::unique_ptr<ws::WebSocket>> sockets;
  std::atomic<int> messages{0};
  for (int i = 0; i < 8; ++i) {
    sockets.push_back(std::make_unique<ws::WebSocket>(echo.url()));
    // event.target, not the object the other thread destroys.
    sockets.back()->onopen = [](const ws::Event &e) { e.target->send("hi"); };
    sockets.back()->onmessage = [&messages](const ws::MessageEvent &e) {
      ++messages;
      e.target->send("again");
    };
  }
  // All open on both ends: one still CONNECTING would rightly be dropped
  // without a close frame.
  wait_until([&] {
    for (const auto &s : sockets)
      if (s->readyState() != ws::WebSocket::OPEN)
        return false;
    return echo.server.clients().size() == 8;
  });
  wait_until([&] { return messages > 100; });
  std::atomic<bool> destroyed{false};
  std::thread t([&] {
    sockets.clear(); // traffic in flight on every socket
    destroyed = true;
  });
  wait_until([&] { return destroyed.load(); });
  t.join();
  wait_until([&] { return echo.closes.size() == 8; });
  for (const auto &c : echo.closes)
    CHECK(c.code == 1001);
}
