// Events: order, readyState at each, listeners, handler exceptions,
// destruction from inside handlers, and subprotocol negotiation.
// SPDX-License-Identifier: MIT
#include "support.hpp"

using test::wait_until;

TEST_CASE("events come in order with the spec's readyState at each") {
  test::EchoServer echo;
  ws::WebSocket socket(echo.url());
  test::Recorder r;
  r.attach(socket);
  socket.onopen = [&](const ws::Event &e) {
    r.events.push_back(e.type);
    r.states.push_back(socket.readyState());
    CHECK(*e.target == socket);
    socket.send("ping");
  };
  socket.addEventListener("message", [&](const ws::MessageEvent &) {
    socket.close(1000, "done");
    r.states.push_back(socket.readyState());
  });
  wait_until([&] { return r.closed(); });
  CHECK(r.events == std::vector<std::string>{"open", "message", "close"});
  // open: OPEN; message: OPEN, then CLOSING right after close(); close: CLOSED
  CHECK(r.states == std::vector<unsigned short>{1, 1, 2, 3});
  CHECK(r.closes[0].type == "close");
  CHECK(*r.closes[0].target == socket);
}

TEST_CASE("addEventListener adds listeners that run in order after onX") {
  test::EchoServer echo;
  ws::WebSocket socket(echo.url());
  std::vector<std::string> calls;
  socket.onmessage = [&](const ws::MessageEvent &) { calls.push_back("on"); };
  auto a = socket.addEventListener(
      "message", [&](const ws::MessageEvent &) { calls.push_back("a"); });
  socket.addEventListener("message",
                          [&](const ws::Event &e) { calls.push_back(e.type); });
  auto c = socket.addEventListener(
      "message", [&](const ws::MessageEvent &) { calls.push_back("c"); });
  socket.addEventListener("open", [&](const ws::Event &) {
    calls.push_back("open");
    socket.send("1");
  });
  socket.addEventListener("no-such-event",
                          [&](const ws::Event &) { calls.push_back("never"); });
  wait_until([&] { return calls.size() == 5; });
  CHECK(calls == std::vector<std::string>{"open", "on", "a", "message", "c"});

  calls.clear();
  socket.removeEventListener("message", a);
  socket.removeEventListener("close", c); // wrong type: c stays
  socket.onmessage = nullptr;             // cleared, as in JS
  socket.send("2");
  wait_until([&] { return calls.size() == 2; });
  CHECK(calls == std::vector<std::string>{"message", "c"});
}

TEST_CASE("a listener removed by an earlier one does not run") {
  test::EchoServer echo;
  ws::WebSocket socket(echo.url());
  int second_ran = 0, first_ran = 0;
  ws::WebSocket::ListenerId second = 0;
  socket.addEventListener("open", [&](const ws::Event &) {
    ++first_ran;
    socket.removeEventListener("open", second);
  });
  second =
      socket.addEventListener("open", [&](const ws::Event &) { ++second_ran; });
  wait_until([&] { return first_ran == 1; });
  CHECK(second_ran == 0);
}

TEST_CASE("a listener added during dispatch runs from the next event on") {
  // DOM: the listeners an event runs are those present when it was
  // dispatched; one the onX handler or a listener adds waits for the next.
  test::EchoServer echo;
  ws::WebSocket socket(echo.url());
  std::vector<std::string> calls;
  bool added = false;
  socket.onopen = [&](const ws::Event &) {
    socket.send("1");
    socket.send("2");
  };
  socket.onmessage = [&](const ws::MessageEvent &e) {
    calls.push_back("on " + e.data);
    if (!added) {
      added = true;
      socket.addEventListener("message", [&](const ws::MessageEvent &m) {
        calls.push_back("added " + m.data);
      });
    }
  };
  wait_until([&] { return calls.size() == 3; });
  CHECK(calls == std::vector<std::string>{"on 1", "on 2", "added 2"});
}

TEST_CASE("a listener of the wrong event type is refused") {
  ws::WebSocket socket("ws://127.0.0.1:1/");
  CHECK_THROWS_AS(
      socket.addEventListener("close", [](const ws::MessageEvent &) {}),
      std::invalid_argument);
  CHECK_THROWS_AS(
      socket.addEventListener("open", [](const ws::ErrorEvent &) {}),
      std::invalid_argument);
  CHECK_NOTHROW(
      socket.addEventListener("error", [](const ws::ErrorEvent &) {}));
}

TEST_CASE("a handler's exception is reported, never unwinds the loop") {
  std::vector<std::string> reported;
  ws::setUncaughtExceptionHandler([&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception &x) {
      reported.push_back(x.what());
    }
  });
  test::EchoServer echo;
  ws::WebSocket socket(echo.url());
  bool listener_ran = false, got_message = false;
  socket.onopen = [](const ws::Event &) {
    throw std::runtime_error("boom in onopen");
  };
  socket.addEventListener("open", [&](const ws::Event &) {
    listener_ran = true;
    socket.send("still works");
  });
  socket.onmessage = [&](const ws::MessageEvent &) { got_message = true; };
  wait_until([&] { return got_message; });
  ws::setUncaughtExceptionHandler(nullptr);
  CHECK(listener_ran);
  CHECK(reported == std::vector<std::string>{"boom in onopen"});
}

TEST_CASE("destroying a socket inside its own handler is safe") {
  test::EchoServer echo;
  auto socket = std::make_unique<ws::WebSocket>(echo.url());
  int after = 0;
  socket->onopen = [&](const ws::Event &) { socket->send("x"); };
  socket->onmessage = [&](const ws::MessageEvent &) { socket.reset(); };
  socket->addEventListener("message", [&](const ws::Event &) { ++after; });
  socket->onclose = [&](const ws::CloseEvent &) { ++after; };
  wait_until([&] { return !echo.closes.empty(); });
  CHECK(!socket);
  CHECK(after == 0); // no handler ran on the destroyed socket
  CHECK(echo.closes[0].code == 1001);
  CHECK(echo.closes[0].wasClean);
}

TEST_CASE("destroying a connecting socket runs no handler") {
  auto echo = std::make_unique<test::EchoServer>();
  bool ran = false;
  {
    ws::WebSocket socket(echo->url());
    socket.onopen = [&](const ws::Event &) { ran = true; };
    socket.onerror = [&](const ws::ErrorEvent &) { ran = true; };
    socket.onclose = [&](const ws::CloseEvent &) { ran = true; };
  }
  {
    ws::WebSocket socket(echo->url());
    socket.onclose = [&](const ws::CloseEvent &) { ran = true; };
    ws::runUntil([] { return false; }, std::chrono::milliseconds(0));
  }
  echo.reset();
  // With the server gone too, run() returns once both attempts wound down.
  ws::run();
  CHECK(!ran);
}

TEST_CASE("subprotocol: the server's choice is socket.protocol") {
  ws::Server server;
  std::vector<std::string> offered_seen;
  std::string server_protocol;
  server.handleProtocols = [&](const std::vector<std::string> &offered,
                               const ws::Request &) -> std::string {
    offered_seen = offered;
    return "chat.v1";
  };
  server.onconnection = [&](ws::WebSocket &s, const ws::Request &) {
    server_protocol = s.protocol();
  };
  server.listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(server), {"chat.v2", "chat.v1"});
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return !r.events.empty(); });
  CHECK(r.events[0] == "open");
  CHECK(socket.protocol() == "chat.v1");
  CHECK(server_protocol == "chat.v1");
  CHECK(offered_seen == std::vector<std::string>{"chat.v2", "chat.v1"});
}

TEST_CASE("subprotocol: none offered, none chosen") {
  test::EchoServer echo;
  ws::WebSocket socket(echo.url());
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return !r.events.empty(); });
  CHECK(r.events[0] == "open");
  CHECK(socket.protocol().empty());
}

TEST_CASE("subprotocol: offered but the server chose none fails, as Chromium") {
  test::EchoServer echo; // has no handleProtocols: picks none
  ws::WebSocket socket(echo.url(), "chat.v1");
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  CHECK(r.events == std::vector<std::string>{"error", "close"});
  CHECK(r.errors[0].find("Sec-WebSocket-Protocol") != std::string::npos);
  CHECK(r.closes[0].code == 1006);
  CHECK(!r.closes[0].wasClean);
}

TEST_CASE("subprotocol or extension the client did not offer fails") {
  struct Case {
    std::vector<std::string> offered;
    std::string header;
    bool deflate = true; // offered by default, as a browser does
  };
  for (const Case &c :
       {Case{{"chat.v1"}, "Sec-WebSocket-Protocol: chat.v9\r\n"},
        Case{{}, "Sec-WebSocket-Protocol: chat.v1\r\n"},
        Case{{}, "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"},
        Case{{}, "Sec-WebSocket-Extensions: permessage-deflate\r\n", false}}) {
    INFO(c.header);
    test::ScriptedServer peer([](const std::string &) { return ""; });
    peer.then_close = false;
    peer.respond = [&](const std::string &) { return peer.upgrade(c.header); };
    ws::ClientOptions o;
    o.perMessageDeflate.enabled = c.deflate;
    ws::WebSocket socket(peer.url(), c.offered, o);
    test::Recorder r;
    r.attach(socket);
    wait_until([&] { return r.closed(); });
    CHECK(r.events == std::vector<std::string>{"error", "close"});
    CHECK(r.closes[0].code == 1006);
    CHECK(socket.protocol().empty());
  }
}

TEST_CASE("ping, pong and upgrade events, as Node's ws fires them, for "
          "listeners") {
  test::EchoServer echo;
  std::vector<std::string> server_pings;
  echo.server.onconnection = [&](ws::WebSocket &socket, const ws::Request &) {
    socket.addEventListener("ping", [&](const ws::MessageEvent &e) {
      server_pings.push_back(e.data);
    });
  };
  ws::ClientOptions o;
  o.pingInterval = std::chrono::milliseconds(20);
  ws::WebSocket socket(echo.url(), {}, o);
  std::vector<std::string> pongs;
  std::vector<ws::UpgradeEvent> upgrades;
  socket.addEventListener("pong", [&](const ws::MessageEvent &e) {
    CHECK(e.type == "pong");
    pongs.push_back(e.data);
  });
  socket.addEventListener("upgrade", [&](const ws::UpgradeEvent &e) {
    CHECK(socket.readyState() == ws::WebSocket::CONNECTING); // before open
    upgrades.push_back(e);
  });
  test::wait_until(
      [&] { return pongs.size() >= 2 && server_pings.size() >= 2; });
  REQUIRE(upgrades.size() == 1);
  CHECK(upgrades[0].request.rfind("GET / HTTP/1.1\r\n", 0) == 0);
  CHECK(upgrades[0].request.find("Upgrade: websocket\r\n") !=
        std::string::npos);
  CHECK(upgrades[0].response.rfind("HTTP/1.1 101 ", 0) == 0);
  CHECK(upgrades[0].response.find("Sec-WebSocket-Accept: ") !=
        std::string::npos);
  CHECK(pongs[0].empty()); // the heartbeat's pings carry nothing
  CHECK_THROWS_AS(
      socket.addEventListener("upgrade", [](const ws::MessageEvent &) {}),
      std::invalid_argument);
  socket.close();
  test::wait_until(
      [&] { return socket.readyState() == ws::WebSocket::CLOSED; });
}
