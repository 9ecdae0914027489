// Ownership: a ws::WebSocket is a handle that any thread may keep and use for
// as long as it likes, whatever happens to the connection; no handler runs
// under a lock; and ws::run() returns once nothing is left to do.
// SPDX-License-Identifier: MIT
#include "support.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

using test::run_must_return;
using test::wait_until;
using ws::WebSocket;
using namespace std::chrono_literals;

TEST_CASE("run() returns: a client fails its handshake, a server that "
          "greeted it is closed from onclose") {
  // Found by a black-box program: the server's greeting is still unread
  // when the client drops the connection, so the client's socket closes
  // lingeringly, and websocketpp's own read on it used to wait for ever.
  ws::Server server;
  server.onconnection = [](WebSocket &socket, const ws::Request &) {
    socket.send("Welcome to the chat room.");
  };
  server.listen(0, "127.0.0.1");
  WebSocket client(test::local_url(server), "chat"); // not chosen: fails
  std::vector<std::string> events;
  client.onerror = [&](const ws::ErrorEvent &) { events.push_back("error"); };
  client.onclose = [&](const ws::CloseEvent &) {
    events.push_back("close");
    server.close();
  };
  run_must_return();
  CHECK(events == std::vector<std::string>{"error", "close"});
}

TEST_CASE("run() returns after Server::close() with sockets open, opening "
          "and closing, and after every socket is gone") {
  ws::Server server;
  std::vector<WebSocket> accepted;
  server.onconnection = [&](WebSocket &socket, const ws::Request &) {
    accepted.push_back(socket);
    socket.send("hello"); // unread by some: their close lingers
  };
  server.listen(0, "127.0.0.1");
  std::vector<std::unique_ptr<WebSocket>> clients;
  for (int i = 0; i < 6; ++i)
    clients.push_back(std::make_unique<WebSocket>(test::local_url(server)));
  wait_until([&] { return accepted.size() == 6; });
  clients[0]->close(); // closing when the server closes
  clients[1].reset();  // gone
  clients.push_back(std::make_unique<WebSocket>(test::local_url(server)));
  server.close(); // the seventh is still opening
  run_must_return();
  for (const auto &socket : accepted)
    CHECK(socket.readyState() == WebSocket::CLOSED);
  for (const auto &c : clients)
    if (c)
      CHECK(c->readyState() == WebSocket::CLOSED);
}

TEST_CASE("a kept handle outlives its connection: CLOSED, and send() only "
          "counts bytes") {
  test::EchoServer echo;
  std::vector<WebSocket> kept;
  echo.server.onconnection = [&](WebSocket &socket, const ws::Request &) {
    kept.push_back(socket);
    CHECK(kept.back() == socket);
  };
  auto client = std::make_unique<WebSocket>(echo.url());
  wait_until([&] { return echo.server.clients().size() == 1; });
  // clients() hands out handles too.
  WebSocket listed = echo.server.clients().at(0);
  CHECK(listed == kept.at(0));
  client->close(1000, "bye");
  wait_until([&] { return kept[0].readyState() == WebSocket::CLOSED; });
  client.reset();
  CHECK(echo.server.clients().empty());
  listed.send("into the void");
  kept[0].send(ws::Binary{1, 2, 3});
  CHECK(kept[0].bufferedAmount() == 16);
  CHECK(listed.bufferedAmount() == 16);
  kept[0].close(); // harmless
  CHECK(listed.readyState() == WebSocket::CLOSED);
}

TEST_CASE("a handle assigned from another: the old socket loses a handle") {
  test::EchoServer echo;
  WebSocket a(echo.url()), b(echo.url());
  wait_until([&] { return echo.server.clients().size() == 2; });
  {
    WebSocket c = a;
    c = b; // a keeps its own handle: still open
    CHECK(c == b);
    CHECK(c != a);
  }
  a = b; // a's socket has no handle left: closed with 1001
  wait_until([&] { return echo.closes.size() == 1; });
  CHECK(echo.closes[0].code == 1001);
  CHECK(a.readyState() == WebSocket::OPEN);
}

TEST_CASE("a handle a socket's own handler keeps is let go after close") {
  test::EchoServer echo;
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  {
    WebSocket socket(echo.url());
    // A cycle through the socket's own handlers (JS's collector would free
    // it): it must not outlive the close event.
    socket.onopen = [socket, token](const ws::Event &) mutable {
      socket.close();
    };
    token.reset();
  }
  // The handler's handle keeps the socket open until it closes itself.
  wait_until([&] { return echo.closes.size() == 1; });
  CHECK(echo.closes[0].code == 1005);
  wait_until([&] { return watch.expired(); });
}

TEST_CASE("a handler may wait for a thread that destroys its socket") {
  test::EchoServer echo;
  auto socket = std::make_unique<WebSocket>(echo.url());
  bool joined = false;
  socket->onopen = [&](const ws::Event &) {
    // The socket goes on another thread while its handler runs; a handler
    // run under a lock that destruction takes would deadlock here.
    std::thread([&] { socket.reset(); }).join();
    joined = true;
  };
  wait_until([&] { return joined && echo.closes.size() == 1; });
  CHECK(echo.closes[0].code == 1001);
}

TEST_CASE("worker threads send to server sockets while those close by the "
          "peer, by the server and by destruction") {
  // Thousands of sockets pass through; four workers keep handles to them
  // and send at random, dropping and taking handles as they go. Run under
  // TSan and ASan: no report, no crash, and every handle stays usable.
  std::mutex mutex;
  std::vector<WebSocket> pool; // the handles the workers share
  std::atomic<bool> stop{false};
  std::atomic<long> sends{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&, w] {
      std::mt19937 random(static_cast<unsigned>(w));
      while (!stop) {
        std::optional<WebSocket> socket;
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (pool.empty())
            continue;
          auto i = random() % pool.size();
          socket = pool[i];
          if (random() % 8 == 0) // let one go now and then
            pool.erase(pool.begin() + static_cast<long>(i));
        }
        // Outside the lock, as the documentation invites.
        socket->send("from a worker");
        (void)socket->readyState();
        (void)socket->bufferedAmount();
        ++sends;
      }
    });

  constexpr int rounds = 10, per_round = 100;
  for (int round = 0; round < rounds; ++round) {
    auto server = std::make_unique<ws::Server>();
    int opened = 0, closed = 0;
    server->onconnection = [&](WebSocket &socket, const ws::Request &) {
      ++opened;
      {
        std::lock_guard<std::mutex> lock(mutex);
        pool.push_back(socket);
      }
      socket.onclose = [&](const ws::CloseEvent &) { ++closed; };
      // Some the server closes itself, on their first message.
      socket.onmessage = [&socket](const ws::MessageEvent &e) {
        if (e.data == "close me")
          socket.close(4000);
      };
    };
    server->listen(0, "127.0.0.1");
    std::vector<std::unique_ptr<WebSocket>> clients;
    for (int i = 0; i < per_round; ++i)
      clients.push_back(std::make_unique<WebSocket>(test::local_url(*server)));
    wait_until([&] { return opened == per_round; }, 30s);
    int closing = 0;
    for (int i = 0; i < per_round; ++i) {
      if (i % 3 == 0)
        clients[i]->close(); // by the peer
      else if (i % 3 == 1)
        clients[i]->send("close me"); // by the server
      closing += i % 3 != 2;
    }
    wait_until([&] { return closed == closing; }, 30s);
    // The last third go with the server, open (1001), and the clients with
    // them.
    server.reset();
    clients.clear();
  }
  // Every handle a worker may still hold is usable and says CLOSED.
  wait_until([&] { return sends > 1000; }, 30s);
  stop = true;
  for (auto &w : workers)
    w.join();
  for (const auto &socket : pool)
    CHECK(socket.readyState() == WebSocket::CLOSED);
  pool.clear();
  run_must_return();
}
