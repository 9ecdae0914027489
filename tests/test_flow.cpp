// Flow control: pause(), resume() and isPaused() (Node's ws), and
// bufferedAmountLowThreshold with the bufferedamountlow event
// (RTCDataChannel), in both roles, over real sockets on loopback.
// SPDX-License-Identifier: MIT
#include "support.hpp"

#include <atomic>
#include <optional>
#include <thread>

using test::wait_until;
using namespace std::chrono_literals;

namespace {

/// A server whose one socket is kept (a handle) and recorded.
struct FlowServer {
  ws::Server server;
  /// Set at the server's open, which may come after the client's (on
  /// Windows it often does): wait for both.
  std::optional<ws::WebSocket> socket;
  test::Recorder r;
  std::function<void(ws::WebSocket &)> on_socket;
  explicit FlowServer(ws::ServerOptions options = {}) : server(options) {
    server.onconnection = [this](ws::WebSocket &s, const ws::Request &) {
      socket = s;
      r.attach(*socket);
      if (on_socket)
        on_socket(*socket);
    };
    server.listen(0, "127.0.0.1");
  }
  std::string url() const { return test::local_url(server); }
};

/// Numbered 1 KiB messages: "<n>:" and padding.
std::string numbered(int n) {
  std::string m = std::to_string(n) + ":";
  m.resize(1024, 'x');
  return m;
}

/// Every message is the numbered one, 0 to count - 1, each once.
void check_in_order(const std::vector<ws::MessageEvent> &got, int count) {
  REQUIRE(got.size() == static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i)
    REQUIRE(got[static_cast<std::size_t>(i)].data == numbered(i));
}

/// Sends numbered messages from `sender` until TCP has pushed back: the
/// kernel's buffers on both ends are full, and `buffered` bytes stay in
/// bufferedAmount. Returns how many it sent.
int flood(ws::WebSocket &sender, std::uint64_t buffered) {
  int sent = 0;
  wait_until(
      [&] {
        if (sender.bufferedAmount() < buffered)
          for (int i = 0; i < 64; ++i)
            sender.send(numbered(sent++));
        return sender.bufferedAmount() >= buffered;
      },
      30s);
  return sent;
}

/// Runs the loop for `window`: for what must not happen meanwhile.
void run_for(std::chrono::milliseconds window) {
  bool over = false;
  ws::setTimeout([&] { over = true; }, window);
  wait_until([&] { return over; });
}

} // namespace

TEST_CASE("pause() on a server's socket: the client's messages back up over "
          "TCP, and resume() delivers each once, in order") {
  FlowServer s;
  s.on_socket = [](ws::WebSocket &socket) {
    socket.pause();
    CHECK(socket.isPaused());
  };
  ws::WebSocket client(s.url());
  wait_until(
      [&] { return client.readyState() == ws::WebSocket::OPEN && s.socket; });
  const int sent = flood(client, 4u << 20);
  CHECK(s.r.messages.empty());
  // The window is shut: nothing more leaves the client while paused.
  const auto stuck = client.bufferedAmount();
  run_for(300ms);
  CHECK(s.r.messages.empty());
  CHECK(client.bufferedAmount() + (256u << 10) >= stuck);

  s.socket->resume();
  CHECK_FALSE(s.socket->isPaused());
  wait_until([&] { return s.r.messages.size() == std::size_t(sent); }, 30s);
  check_in_order(s.r.messages, sent);
  wait_until([&] { return client.bufferedAmount() == 0; });
}

TEST_CASE("pause() in a client's onmessage: no message fires until resume(), "
          "then every one in order") {
  constexpr int count = 200; // 200 KiB: more than one read (64 KiB)
  FlowServer s;
  s.on_socket = [](ws::WebSocket &socket) {
    for (int i = 0; i < count; ++i)
      socket.send(numbered(i));
  };
  ws::WebSocket client(s.url());
  test::Recorder r;
  r.attach(client);
  const auto first =
      client.addEventListener("message", [&](const ws::MessageEvent &) {
        if (r.messages.size() == 1)
          client.pause();
      });
  wait_until([&] { return s.socket && s.socket->bufferedAmount() == 0; });
  run_for(200ms);
  CHECK(r.messages.size() == 1);
  CHECK(client.isPaused());

  // Paused again from a message handler, resumed later: one at a time.
  client.removeEventListener("message", first);
  int timers = 0; // none may outlive the client
  client.addEventListener("message", [&](const ws::MessageEvent &) {
    client.pause();
    ++timers;
    ws::setTimeout(
        [&] {
          --timers;
          client.resume();
        },
        1);
  });
  client.resume();
  wait_until([&] { return r.messages.size() == count && timers == 0; });
  check_in_order(r.messages, count);
}

TEST_CASE("a client paused while CONNECTING opens, then reads nothing until "
          "resume()") {
  FlowServer s;
  s.on_socket = [](ws::WebSocket &socket) { socket.send(numbered(0)); };
  ws::WebSocket client(s.url());
  client.pause();
  CHECK(client.isPaused());
  test::Recorder r;
  r.attach(client);
  wait_until(
      [&] { return client.readyState() == ws::WebSocket::OPEN && s.socket; });
  wait_until([&] { return s.socket && s.socket->bufferedAmount() == 0; });
  run_for(100ms);
  CHECK(r.messages.empty());
  client.resume();
  wait_until([&] { return r.messages.size() == 1; });
  CHECK(r.events == std::vector<std::string>{"open", "message"});
}

TEST_CASE("the heartbeat rests while paused: a pong it cannot read does not "
          "fail the socket, in either role") {
  SECTION("client") {
    FlowServer s;
    ws::ClientOptions o;
    o.pingInterval = 50ms;
    ws::WebSocket client(s.url(), {}, o);
    test::Recorder r;
    r.attach(client);
    wait_until(
        [&] { return client.readyState() == ws::WebSocket::OPEN && s.socket; });
    client.pause();
    run_for(500ms); // ten intervals
    CHECK(client.readyState() == ws::WebSocket::OPEN);
    CHECK(r.errors.empty());
    client.resume();
    run_for(300ms); // the heartbeat works again: pongs are read
    CHECK(client.readyState() == ws::WebSocket::OPEN);
    client.send("still here");
    wait_until([&] { return s.r.messages.size() == 1; });
  }
  SECTION("server") {
    ws::ServerOptions o;
    o.pingInterval = 50ms;
    FlowServer s(o);
    s.on_socket = [](ws::WebSocket &socket) { socket.pause(); };
    ws::WebSocket client(s.url());
    test::Recorder r;
    r.attach(client);
    wait_until([&] { return s.socket.has_value(); });
    run_for(500ms);
    CHECK(s.socket->readyState() == ws::WebSocket::OPEN);
    CHECK(s.r.errors.empty());
    s.socket->resume();
    run_for(300ms);
    CHECK(s.socket->readyState() == ws::WebSocket::OPEN);
    CHECK(r.events == std::vector<std::string>{"open"});
  }
}

TEST_CASE("close() on a paused socket behind megabytes it has not read ends "
          "cleanly at once, in either role") {
  // Long enough that a close waiting for it would fail the test.
  ws::ServerOptions so;
  so.closeTimeout = 30s;
  FlowServer s(so);
  ws::ClientOptions co;
  co.closeTimeout = 30s;
  ws::WebSocket client(s.url(), {}, co);
  test::Recorder r;
  r.attach(client);
  wait_until(
      [&] { return client.readyState() == ws::WebSocket::OPEN && s.socket; });
  ws::WebSocket *paused = nullptr, *sender = nullptr;
  SECTION("the server's socket") {
    s.socket->pause();
    paused = &*s.socket;
    sender = &client;
  }
  SECTION("the client") {
    client.pause();
    paused = &client;
    sender = &*s.socket;
  }
  flood(*sender, 2u << 20);
  const auto start = std::chrono::steady_clock::now();
  paused->close(1000, "done");
  wait_until([&] { return r.closed() && s.r.closed(); });
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < 10s); // reading through the megabytes, not waiting
  for (const auto *c : {&r.closes[0], &s.r.closes[0]}) {
    CHECK(c->code == 1000);
    CHECK(c->reason == "done");
    CHECK(c->wasClean);
  }
  // Nothing that waited fires once closing (WHATWG drops such messages).
  CHECK((paused == &client ? r : s.r).messages.empty());
}

TEST_CASE("a close that arrives behind messages held by pause() fires after "
          "them, on resume()") {
  FlowServer s;
  s.on_socket = [](ws::WebSocket &socket) {
    socket.send("a");
    socket.send("b");
    socket.close(1000, "bye");
  };
  ws::WebSocket client(s.url());
  test::Recorder r;
  r.attach(client);
  client.addEventListener("message",
                          [&](const ws::MessageEvent &) { client.pause(); });
  // The server's close is answered (websocketpp read it with "b"), so the
  // server's side ends cleanly while the client's close waits.
  wait_until([&] { return s.r.closed(); });
  CHECK(s.r.closes[0].wasClean);
  run_for(100ms);
  CHECK(r.events == std::vector<std::string>{"open", "message"});
  client.resume();
  wait_until([&] { return r.closed(); });
  CHECK(r.events ==
        std::vector<std::string>{"open", "message", "message", "close"});
  CHECK(r.messages[1].data == "b");
  CHECK(r.closes[0].code == 1000);
  CHECK(r.closes[0].wasClean);
}

TEST_CASE("the peer's close reaches a paused socket on resume(); the peer "
          "waits no longer than its closeTimeout") {
  ws::ServerOptions o;
  o.closeTimeout = 300ms;
  FlowServer s(o);
  ws::WebSocket client(s.url());
  test::Recorder r;
  r.attach(client);
  wait_until(
      [&] { return client.readyState() == ws::WebSocket::OPEN && s.socket; });
  client.pause();
  // The read in flight when the pause began takes this message (held);
  // no read follows it, so the close frame is not read.
  s.socket->send("before the close");
  wait_until([&] { return s.socket->bufferedAmount() == 0; });
  run_for(100ms);
  const auto start = std::chrono::steady_clock::now();
  s.socket->close(1000, "bye");
  wait_until([&] { return s.r.closed(); });
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  CHECK(s.r.closes[0].code == 1006); // the client never answered
  CHECK(r.events == std::vector<std::string>{"open"});
  client.resume();
  wait_until([&] { return r.closed(); });
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].data == "before the close");
  CHECK(r.closes[0].code == 1000);
  CHECK(r.closes[0].reason == "bye");
}

TEST_CASE("pause() and resume() from another thread while messages flow: "
          "nothing lost, order kept") {
  constexpr int count = 5000;
  FlowServer s;
  s.on_socket = [](ws::WebSocket &socket) {
    for (int i = 0; i < count; ++i)
      socket.send(numbered(i));
  };
  ws::WebSocket client(s.url());
  test::Recorder r;
  r.attach(client);
  std::atomic<bool> stop{false};
  std::thread toggler([&] {
    for (int i = 0; i < 2000 && !stop; ++i) {
      client.pause();
      std::this_thread::yield();
      client.resume();
    }
  });
  wait_until([&] { return r.messages.size() == count; }, 30s);
  stop = true;
  toggler.join();
  CHECK_FALSE(client.isPaused());
  check_in_order(r.messages, count);
}

TEST_CASE("bufferedamountlow fires once bufferedAmount falls from above the "
          "threshold to at or below it") {
  test::EchoServer echo;
  ws::WebSocket client(echo.url());
  wait_until([&] { return client.readyState() == ws::WebSocket::OPEN; });
  CHECK(client.bufferedAmountLowThreshold() == 0);
  std::vector<std::uint64_t> seen; // bufferedAmount at each event
  client.onbufferedamountlow = [&](const ws::Event &e) {
    CHECK(e.type == "bufferedamountlow");
    CHECK(*e.target == client);
    seen.push_back(client.bufferedAmount());
  };
  int echoed = 0;
  client.onmessage = [&](const ws::MessageEvent &) { ++echoed; };

  SECTION("queued at once, drained once: one event") {
    client.setBufferedAmountLowThreshold(64 << 10);
    CHECK(client.bufferedAmountLowThreshold() == 64u << 10);
    for (int i = 0; i < 64; ++i)
      client.send(std::string(16 << 10, 'x')); // 1 MiB
    wait_until([&] { return echoed == 64; });
    CHECK(seen.size() == 1);
    CHECK(seen[0] <= 64u << 10);
  }
  SECTION("never above the threshold: no event") {
    client.setBufferedAmountLowThreshold(1 << 20);
    client.send(std::string(10 << 10, 'x'));
    wait_until([&] { return echoed == 1; });
    run_for(50ms);
    CHECK(seen.empty());
  }
  SECTION("threshold 0: each time the queue empties") {
    client.send("one");
    wait_until([&] { return echoed == 1; });
    wait_until([&] { return seen.size() == 1; });
    client.send("two");
    wait_until([&] { return seen.size() == 2; });
    CHECK(seen == std::vector<std::uint64_t>{0, 0});
  }
  SECTION("listeners too; none once removed or cleared") {
    int heard = 0;
    const auto id = client.addEventListener(
        "bufferedamountlow", [&](const ws::Event &) { ++heard; });
    client.send("one");
    wait_until([&] { return heard == 1 && seen.size() == 1; });
    client.removeEventListener("bufferedamountlow", id);
    client.onbufferedamountlow = nullptr;
    client.send("two");
    wait_until([&] { return echoed == 2; });
    run_for(50ms);
    CHECK(heard == 1);
    CHECK(seen.size() == 1);
  }
}

TEST_CASE("a producer writes to a high-water mark and waits for "
          "bufferedamountlow, in either role") {
  constexpr int count = 8192; // 8 MiB
  constexpr std::uint64_t high = 256 << 10, low = 64 << 10;
  FlowServer s;
  ws::WebSocket client(s.url());
  test::Recorder r;
  r.attach(client);
  wait_until(
      [&] { return client.readyState() == ws::WebSocket::OPEN && s.socket; });
  ws::WebSocket *producer = nullptr;
  std::vector<ws::MessageEvent> *got = nullptr;
  SECTION("client") {
    producer = &client;
    got = &s.r.messages;
  }
  SECTION("server") {
    producer = &*s.socket;
    got = &r.messages;
  }
  int sent = 0, waits = 0;
  std::uint64_t most = 0;
  auto pump = [&] {
    while (sent < count && producer->bufferedAmount() < high)
      producer->send(numbered(sent++));
    most = std::max(most, producer->bufferedAmount());
  };
  producer->setBufferedAmountLowThreshold(low);
  producer->onbufferedamountlow = [&](const ws::Event &) {
    ++waits;
    CHECK(producer->bufferedAmount() <= low);
    pump();
  };
  pump();
  wait_until([&] { return got->size() == count; }, 30s);
  check_in_order(*got, count);
  CHECK(most < high + 1024);
  CHECK(waits > 1);
}

TEST_CASE("a server's socket fires bufferedamountlow when a paused client "
          "resumes") {
  FlowServer s;
  ws::WebSocket client(s.url());
  test::Recorder r;
  r.attach(client);
  wait_until(
      [&] { return client.readyState() == ws::WebSocket::OPEN && s.socket; });
  client.pause();
  const int sent = flood(*s.socket, 4u << 20);
  int lows = 0;
  s.socket->onbufferedamountlow = [&](const ws::Event &) { ++lows; };
  run_for(200ms);
  INFO(s.socket->bufferedAmount());
  CHECK(lows == 0); // stuck above the threshold (0) while paused
  CHECK(s.socket->bufferedAmount() > 0);
  client.resume();
  wait_until([&] { return lows == 1; });
  wait_until([&] { return r.messages.size() == std::size_t(sent); }, 30s);
  CHECK(s.socket->bufferedAmount() == 0);
}
