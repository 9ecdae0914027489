// ClientOptions::reconnect: a client that connects again after an unexpected
// end, with back-off, and does not retry what will not heal.
// SPDX-License-Identifier: MIT
#include "raw_client.hpp"
#include "support.hpp"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;
using test::wait_until;

namespace {

/// Reconnection with short waits, for tests.
ws::ClientOptions quick(unsigned max_attempts = 0) {
  ws::ClientOptions o;
  o.reconnect.enabled = true;
  o.reconnect.initialDelay = 20ms;
  o.reconnect.maxDelay = 80ms;
  o.reconnect.maxAttempts = max_attempts;
  o.reconnect.minUptime = 0ms; // any open connection starts the count again
  return o;
}

/// test::Recorder, with the reconnecting events too.
struct Watch : test::Recorder {
  std::vector<ws::ReconnectingEvent> lapses;
  void attach(ws::WebSocket &s) {
    test::Recorder::attach(s);
    s.onreconnecting = [this, &s](const ws::ReconnectingEvent &e) {
      events.push_back("reconnecting");
      lapses.push_back(e);
      states.push_back(s.readyState());
    };
  }
  std::size_t count(const std::string &type) const {
    return static_cast<std::size_t>(
        std::count(events.begin(), events.end(), type));
  }
};

/// A server written by hand, on the loop, that answers every connection
/// alike: it reads the request head and writes `respond(request)`; then it
/// closes TCP, or with `hold` keeps the connection and ignores what comes
/// (a peer whose link died: no pong ever comes back).
struct RepeatingServer {
  asio::ip::tcp::acceptor acceptor{ws::detail::loop().ctx,
                                   {asio::ip::make_address("127.0.0.1"), 0}};
  std::function<std::string(const std::string &)> respond;
  bool hold = false;
  int accepted = 0;
  std::vector<std::shared_ptr<asio::ip::tcp::socket>> peers;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  explicit RepeatingServer(std::function<std::string(const std::string &)> r,
                           bool h = false)
      : respond(std::move(r)), hold(h) {
    accept();
  }
  ~RepeatingServer() {
    *alive = false;
    asio::error_code ignored;
    acceptor.close(ignored);
    for (auto &p : peers)
      p->close(ignored);
  }
  void accept() {
    acceptor.async_accept([this, alive = alive](asio::error_code ec,
                                                asio::ip::tcp::socket s) {
      if (ec || !*alive)
        return; // closed: `this` may be gone
      ++accepted;
      auto peer = std::make_shared<asio::ip::tcp::socket>(std::move(s));
      peers.push_back(peer);
      auto buf = std::make_shared<asio::streambuf>();
      asio::async_read_until(
          *peer, *buf, "\r\n\r\n",
          [this, alive = alive, peer, buf](asio::error_code ec, std::size_t n) {
            // A request read in the loop turn that destroyed us still
            // completes without an error.
            if (ec || !*alive)
              return;
            const std::string request(asio::buffers_begin(buf->data()),
                                      asio::buffers_begin(buf->data()) + n);
            auto out = std::make_shared<std::string>(respond(request));
            asio::async_write(
                *peer, asio::buffer(*out),
                [peer, out, h = hold](asio::error_code, std::size_t) {
                  if (!h)
                    peer->close();
                });
          });
      accept();
    });
  }
  std::string url() const {
    return "ws://127.0.0.1:" +
           std::to_string(acceptor.local_endpoint().port()) + "/";
  }
};

std::string answer(int status) {
  return "HTTP/1.1 " + std::to_string(status) +
         " Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

/// A ws::Server whose sockets echo, on a port fixed at construction (0:
/// any), so that a test can stop it and start another on the same port.
struct EchoOn {
  ws::Server server;
  explicit EchoOn(std::uint16_t port) {
    server.onconnection = [](ws::WebSocket &socket, const ws::Request &) {
      socket.onmessage = [&socket](const ws::MessageEvent &e) {
        socket.send(e.data);
      };
    };
    server.listen(port, "127.0.0.1");
  }
};

} // namespace

TEST_CASE("a server restart: reconnecting, then open again; close only at "
          "the end") {
  auto first = std::make_unique<EchoOn>(0);
  const std::uint16_t port = first->server.port();
  ws::WebSocket socket(test::local_url(first->server), {}, quick());
  Watch w;
  w.attach(socket);
  wait_until([&] { return socket.readyState() == ws::WebSocket::OPEN; });
  socket.send("before");
  wait_until([&] { return w.messages.size() == 1; });

  first->server.close(); // every socket gets 1001, and nobody listens
  wait_until([&] { return w.count("error") >= 1; }); // an attempt refused
  CHECK(socket.readyState() == ws::WebSocket::CONNECTING);
  CHECK_THROWS_AS(socket.send("while away"), ws::InvalidStateError);
  REQUIRE(!w.lapses.empty());
  CHECK(w.lapses[0].code == 1001);
  CHECK(w.lapses[0].wasClean);
  CHECK(w.lapses[0].attempt == 1);
  CHECK(w.errors[0].find("WebSocket connection to '" + socket.url() +
                         "' failed") == 0);

  EchoOn second(port); // the server is back
  wait_until([&] { return w.count("open") == 2; });
  socket.send("after");
  wait_until([&] { return w.messages.size() == 2; });
  CHECK(w.messages[1].data == "after");
  CHECK(w.count("close") == 0);
  // Every event between the two opens: reconnecting, then each refused
  // attempt's error and reconnecting, in CONNECTING.
  const auto opens = std::find(w.events.begin() + 1, w.events.end(), "open");
  for (auto it = w.events.begin() + 2; it != opens; ++it) {
    CHECK((*it == "error" || *it == "reconnecting"));
    CHECK(w.states[static_cast<std::size_t>(it - w.events.begin())] ==
          ws::WebSocket::CONNECTING);
  }
  for (std::size_t i = 0; i < w.lapses.size(); ++i)
    CHECK(w.lapses[i].attempt == i + 1);

  socket.close();
  wait_until([&] { return w.closed(); });
  CHECK(w.closes[0].wasClean);
  CHECK(w.count("reconnecting") == w.lapses.size());
  CHECK(w.events.back() == "close");
}

TEST_CASE("a dropped connection (no close frame) is reconnected") {
  RepeatingServer server(
      [](const std::string &request) { return test::upgrade_for(request); });
  ws::WebSocket socket(server.url(), {}, quick());
  Watch w;
  w.attach(socket);
  wait_until([&] { return w.count("open") >= 3; });
  CHECK(server.accepted >= 3);
  REQUIRE(w.lapses.size() >= 2);
  CHECK(w.lapses[0].code == 1006);
  CHECK_FALSE(w.lapses[0].wasClean);
  CHECK(w.lapses[1].attempt == 1); // an open connection starts the count anew
  CHECK(w.count("error") == 0);    // a drop is not a failure (RFC 6455 7.1.7)
  CHECK(w.count("close") == 0);
}

TEST_CASE("a connection that ends before minUptime counts as an attempt: "
          "a server that drops at once is left after maxAttempts") {
  RepeatingServer server(
      [](const std::string &request) { return test::upgrade_for(request); });
  ws::ClientOptions o = quick(3);
  o.reconnect.minUptime = 1min;
  ws::WebSocket socket(server.url(), {}, o);
  Watch w;
  w.attach(socket);
  wait_until([&] { return w.closed(); });
  CHECK(server.accepted == 4);
  REQUIRE(w.lapses.size() == 3);
  CHECK(w.lapses[2].attempt == 3);
  CHECK(w.count("open") == 4);
  CHECK(w.closes[0].code == 1006);
}

TEST_CASE("back-off: waits grow by factor up to maxDelay, each between half "
          "and all of it; maxAttempts ends in close") {
  const std::string nobody = "ws://127.0.0.1:" + test::free_port() + "/";
  ws::ClientOptions o = quick(5);
  o.reconnect.factor = 2;
  ws::WebSocket socket(nobody, {}, o);
  Watch w;
  w.attach(socket);
  const auto start = std::chrono::steady_clock::now();
  test::run_must_return(); // nothing keeps the loop once it gives up
  const auto took = std::chrono::steady_clock::now() - start;

  // The first attempt, then five more, each refused; then close.
  std::vector<std::string> expected;
  for (int i = 0; i < 5; ++i)
    expected.insert(expected.end(), {"error", "reconnecting"});
  expected.insert(expected.end(), {"error", "close"});
  CHECK(w.events == expected);
  REQUIRE(w.lapses.size() == 5);
  const int most[] = {20, 40, 80, 80, 80};
  std::chrono::milliseconds waited{0};
  for (std::size_t i = 0; i < 5; ++i) {
    INFO("attempt " << i + 1);
    CHECK(w.lapses[i].attempt == i + 1);
    CHECK(w.lapses[i].code == 1006);
    CHECK(w.lapses[i].delay.count() >= most[i] / 2);
    CHECK(w.lapses[i].delay.count() <= most[i]);
    waited += w.lapses[i].delay;
  }
  CHECK(took >= waited);
  CHECK(w.closes[0].code == 1006);
  CHECK(socket.readyState() == ws::WebSocket::CLOSED);
}

TEST_CASE("no retry for an answer that will not change: 4xx but 429") {
  for (int status : {400, 401, 403, 404}) {
    INFO(status);
    RepeatingServer server([=](const std::string &) { return answer(status); });
    ws::WebSocket socket(server.url(), {}, quick());
    Watch w;
    w.attach(socket);
    wait_until([&] { return w.closed(); });
    CHECK(w.events == std::vector<std::string>{"error", "close"});
    CHECK(w.errors[0].find("Unexpected response code: " +
                           std::to_string(status)) != std::string::npos);
    CHECK(server.accepted == 1);
  }
  for (int status : {429, 500, 503}) {
    INFO(status);
    RepeatingServer server([=](const std::string &) { return answer(status); });
    ws::WebSocket socket(server.url(), {}, quick(2));
    Watch w;
    w.attach(socket);
    wait_until([&] { return w.closed(); });
    CHECK(w.count("reconnecting") == 2);
    CHECK(server.accepted == 3);
  }
}

TEST_CASE("close codes: 1000, 1008 and 4000-4999 end it, unless "
          "afterPolicyClose; others are retried") {
  struct Case {
    std::uint16_t code;
    bool policy_retry;
    bool retried;
  };
  for (const Case c : {Case{1000, false, false}, Case{1000, true, false},
                       Case{1008, false, false}, Case{4000, false, false},
                       Case{4999, false, false}, Case{1008, true, true},
                       Case{4001, true, true}, Case{1011, false, true},
                       Case{3000, false, true}, Case{1012, false, true}}) {
    INFO(c.code << (c.policy_retry ? " with afterPolicyClose" : ""));
    // A server's close frame with the code (ws::WebSocket::close() takes
    // only the codes a page may send).
    RepeatingServer server([&](const std::string &request) {
      return test::upgrade_for(request) +
             test::frame(test::opcode::CLOSE,
                         test::close_payload(c.code, "bye"), true, 0, false);
    });
    ws::ClientOptions o = quick(1);
    o.reconnect.minUptime = 1min; // each drop counts: one retry, then close
    o.reconnect.afterPolicyClose = c.policy_retry;
    ws::WebSocket socket(server.url(), {}, o);
    Watch w;
    w.attach(socket);
    wait_until([&] { return w.closed(); });
    CHECK(server.accepted == (c.retried ? 2 : 1));
    CHECK(w.count("reconnecting") == (c.retried ? 1u : 0u));
    if (c.retried) {
      CHECK(w.lapses[0].code == c.code);
      CHECK(w.lapses[0].reason == "bye");
    }
    CHECK(w.closes[0].code == c.code);
  }
}

TEST_CASE("close() while waiting ends the wait at once: error, then close "
          "1006") {
  auto server = std::make_unique<RepeatingServer>(
      [](const std::string &request) { return test::upgrade_for(request); });
  ws::ClientOptions o = quick();
  o.reconnect.initialDelay = o.reconnect.maxDelay = 60s;
  ws::WebSocket socket(server->url(), {}, o);
  Watch w;
  w.attach(socket);
  socket.addEventListener("reconnecting", [&](const ws::ReconnectingEvent &) {
    server.reset(); // nothing else keeps the loop, but a pending wait would
    socket.close();
  });
  test::run_must_return(2s);
  CHECK(w.events ==
        std::vector<std::string>{"open", "reconnecting", "error", "close"});
  CHECK(w.errors[0] ==
        "WebSocket is closed before the connection is established.");
  CHECK(w.closes[0].code == 1006);
}

TEST_CASE("the last handle going while waiting stops it, with no event") {
  auto server = std::make_unique<RepeatingServer>(
      [](const std::string &request) { return test::upgrade_for(request); });
  ws::ClientOptions o = quick();
  o.reconnect.initialDelay = o.reconnect.maxDelay = 60s;
  auto socket = std::make_unique<ws::WebSocket>(server->url(),
                                                std::vector<std::string>{}, o);
  Watch w;
  w.attach(*socket);
  socket->onreconnecting = [&](const ws::ReconnectingEvent &) {
    w.events.push_back("reconnecting");
    server.reset();
    socket.reset();
  };
  test::run_must_return(2s); // a pending wait would hold the loop
  CHECK(w.events == std::vector<std::string>{"open", "reconnecting"});
}

TEST_CASE("the heartbeat finds a dead link, and the socket reconnects") {
  // Answers the upgrade, then never reads again: no pong comes back.
  RepeatingServer server(
      [](const std::string &request) { return test::upgrade_for(request); },
      true);
  ws::ClientOptions o = quick();
  o.pingInterval = 50ms;
  ws::WebSocket socket(server.url(), {}, o);
  Watch w;
  w.attach(socket);
  wait_until([&] { return w.count("open") >= 2; });
  REQUIRE(!w.errors.empty());
  CHECK(w.errors[0] == "No pong came back within 50 ms, and no other data: "
                       "the connection is dead.");
  CHECK(w.events[1] == "error");
  CHECK(w.events[2] == "reconnecting");
  CHECK(server.accepted >= 2);
  socket.close();
  wait_until([&] { return w.closed(); });
}

TEST_CASE("a server that changes the subprotocol on reconnecting is left") {
  int connections = 0;
  ws::Server server;
  server.handleProtocols = [&](const std::vector<std::string> &offered,
                               const ws::Request &) -> std::string {
    return offered[connections == 0 ? 0 : 1];
  };
  server.onconnection = [&](ws::WebSocket &s, const ws::Request &) {
    if (++connections == 1)
      s.close(3000, "come back");
  };
  server.listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(server), {"a", "b"}, quick());
  Watch w;
  w.attach(socket);
  wait_until([&] { return w.closed(); });
  CHECK(w.events ==
        std::vector<std::string>{"open", "reconnecting", "error", "close"});
  CHECK(w.errors[0].find("the server chose the subprotocol 'b' on "
                         "reconnecting, after 'a' before") !=
        std::string::npos);
  CHECK(socket.protocol() == "a");
}

TEST_CASE("reconnect options out of range throw") {
  ws::ClientOptions o = quick();
  o.reconnect.factor = 0.5;
  CHECK_THROWS_AS(ws::WebSocket("ws://127.0.0.1:1/", {}, o),
                  std::invalid_argument);
  o = quick();
  o.reconnect.maxDelay = 1ms;
  CHECK_THROWS_AS(ws::WebSocket("ws://127.0.0.1:1/", {}, o),
                  std::invalid_argument);
  // Left off, the options are not looked at.
  o.reconnect.enabled = false;
  CHECK_NOTHROW(ws::WebSocket("ws://127.0.0.1:1/", {}, o));
  test::run_must_return();
}

TEST_CASE("other threads send and close while the socket reconnects") {
  // The server drops every connection a moment after it opens, so the
  // socket keeps going between OPEN and CONNECTING while a thread sends
  // (each send either goes or throws InvalidStateError) and then closes.
  RepeatingServer server(
      [](const std::string &request) { return test::upgrade_for(request); });
  ws::ClientOptions o = quick();
  o.reconnect.initialDelay = o.reconnect.maxDelay = 1ms;
  ws::WebSocket socket(server.url(), {}, o);
  Watch w;
  w.attach(socket);
  std::atomic<int> sent{0}, refused{0};
  std::atomic<bool> done{false};
  std::thread sender([socket, &sent, &refused, &done]() mutable {
    while (sent + refused < 20000) {
      try {
        socket.send("x");
        ++sent;
      } catch (const ws::InvalidStateError &) {
        ++refused;
      }
      (void)socket.readyState();
      (void)socket.protocol();
    }
    socket.close();
    done = true;
  });
  wait_until([&] { return w.closed(); }, 20s);
  sender.join();
  CHECK(done);
  CHECK(w.count("close") == 1);
  CHECK(w.events.back() == "close");
  CHECK(socket.readyState() == ws::WebSocket::CLOSED);
}

TEST_CASE("bufferedAmount on reconnecting: what never went out is forgotten") {
  // The server sends a message and then its close frame, and keeps TCP
  // 300 ms before it ends it. Sent in between, while the connection is
  // closing, the client's message is counted (as a browser counts what is
  // sent once closing) and never sent. The next connection starts from 0;
  // a socket that is done for good keeps the count, as a browser's does.
  for (bool again : {true, false}) {
    INFO((again ? "reconnecting" : "closed for good"));
    test::HoldingPeer peer(
        test::frame(test::opcode::TEXT, "bye", true, 0, false) +
            test::frame(test::opcode::CLOSE, test::close_payload(1011), true, 0,
                        false),
        300ms);
    ws::ClientOptions o = quick();
    o.reconnect.enabled = again;
    ws::WebSocket socket(peer.url(), {}, o);
    Watch w;
    w.attach(socket);
    std::uint64_t while_closing = 0, after = 0;
    socket.onmessage = [&](const ws::MessageEvent &) {
      ws::setTimeout(
          [&] {
            socket.send(std::string(1000, 'x'));
            while_closing = socket.bufferedAmount();
          },
          50ms);
    };
    auto done = [&](const ws::Event &) {
      after = socket.bufferedAmount();
      socket.close();
    };
    socket.addEventListener("reconnecting", done);
    socket.addEventListener("close", done);
    wait_until([&] { return w.closed(); });
    CHECK(while_closing == 1000);
    CHECK(after == (again ? 0 : 1000));
    CHECK(peer.frames().size() == 1); // only the answer to its close
  }
}
