// ws::Server: plain HTTP, the upgrade request, listen errors, clients(),
// broadcast(), close() and destruction.
// SPDX-License-Identifier: MIT
#include "support.hpp"

#include <iostream>
#include <sstream>
#include <thread>

using test::wait_until;

namespace {

// http_get blocks, so it runs on a thread while this one runs the loop.
std::string get(std::uint16_t port, const std::string &path,
                const std::string &headers = "") {
  std::string response;
  bool done = false;
  std::thread t([&] {
    response = test::http_get(port, path, headers);
    ws::post([&] { done = true; });
  });
  test::wait_until([&] { return done; });
  t.join();
  return response;
}

/// What goes to std::cout while it lives (websocketpp's access log does).
struct CoutCapture {
  std::ostringstream text;
  std::streambuf *previous = std::cout.rdbuf(text.rdbuf());
  ~CoutCapture() { std::cout.rdbuf(previous); }
};

} // namespace

TEST_CASE("onrequest answers plain HTTP with status, headers and body") {
  ws::Server server;
  ws::Request seen;
  server.onrequest = [&](const ws::Request &req, ws::Response &res) {
    seen = req;
    if (req.path == "/") {
      res.setHeader("Content-Type", "text/html");
      res.body = "<p>hello</p>";
    } else {
      res.status = 404;
      res.body = "Not found";
    }
  };
  server.listen(0, "127.0.0.1");
  std::string ok = get(server.port(), "/?x=1", "X-Test: yes\r\n");
  CHECK(ok.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(ok.find("Content-Type: text/html") != std::string::npos);
  CHECK(ok.find("<p>hello</p>") != std::string::npos);
  CHECK(seen.method == "GET");
  CHECK(seen.url == "/?x=1");
  CHECK(seen.path == "/");
  CHECK(seen.query == "x=1");
  CHECK(seen.header("x-test") == "yes");
  CHECK(seen.remoteAddress == "127.0.0.1");
  std::string missing = get(server.port(), "/nope");
  CHECK(missing.rfind("HTTP/1.1 404", 0) == 0);
  CHECK(missing.find("Not found") != std::string::npos);
}

TEST_CASE("without onrequest plain HTTP gets 426 Upgrade Required") {
  ws::Server server;
  server.listen(0, "127.0.0.1");
  CHECK(get(server.port(), "/").rfind("HTTP/1.1 426", 0) == 0);
}

TEST_CASE("an exception in onrequest is reported and answered with 500") {
  int reported = 0;
  ws::setUncaughtExceptionHandler([&](std::exception_ptr) { ++reported; });
  ws::Server server;
  server.onrequest = [](const ws::Request &, ws::Response &) {
    throw std::runtime_error("oops");
  };
  server.listen(0, "127.0.0.1");
  CHECK(get(server.port(), "/").rfind("HTTP/1.1 500", 0) == 0);
  ws::setUncaughtExceptionHandler(nullptr);
  CHECK(reported == 1);
}

TEST_CASE("onconnection sees the upgrade request") {
  ws::Server server;
  ws::Request seen;
  bool connected = false;
  server.onconnection = [&](ws::WebSocket &s, const ws::Request &req) {
    seen = req;
    connected = true;
    CHECK(s.readyState() == ws::WebSocket::OPEN);
    CHECK(s.url().empty());
  };
  server.listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(server, "/room/7?nick=ann"));
  wait_until([&] { return connected; });
  CHECK(seen.path == "/room/7");
  CHECK(seen.query == "nick=ann");
  CHECK(seen.url == "/room/7?nick=ann");
  CHECK(seen.header("Upgrade") == "websocket");
  CHECK(seen.header("host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(seen.remoteAddress == "127.0.0.1");
  CHECK(seen.remotePort != 0);
  CHECK(server.clients().size() == 1);
}

TEST_CASE("header names match in any case, in the handshake and in Request") {
  // RFC 9110 5.1: names are case-insensitive. A client that shouts them
  // still upgrades, and the application finds them by any spelling.
  ws::Server server;
  ws::Request seen;
  bool connected = false;
  server.onconnection = [&](ws::WebSocket &, const ws::Request &req) {
    seen = req;
    connected = true;
  };
  server.listen(0, "127.0.0.1");
  std::string head;
  bool answered = false;
  std::thread client([&, port = server.port()] {
    asio::io_context ctx;
    asio::ip::tcp::socket s(ctx);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(s, asio::buffer(std::string(
                       "GET / HTTP/1.1\r\nHOST: 127.0.0.1\r\n"
                       "upgrade: WebSocket\r\nCONNECTION: Upgrade\r\n"
                       "sec-websocket-VERSION: 13\r\n"
                       "SEC-WEBSOCKET-KEY: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "x-MiXeD-cAsE: kept\r\n\r\n")));
    asio::streambuf buf;
    asio::error_code ec;
    asio::read_until(s, buf, "\r\n\r\n", ec);
    head.assign(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
    ws::post([&] { answered = true; });
  });
  test::wait_until([&] { return answered && connected; });
  client.join();
  CHECK(head.rfind("HTTP/1.1 101", 0) == 0);
  CHECK(head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos);
  CHECK(seen.header("X-Mixed-Case") == "kept");
  CHECK(seen.header("x-mixed-case") == "kept");
  CHECK(seen.header("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ==");
  CHECK(seen.header("X-Mixed-Casf").empty());
}

TEST_CASE("listen() on a port in use throws, naming address and port") {
  ws::Server first;
  first.listen(0, "127.0.0.1");
  ws::Server second;
  try {
    second.listen(first.port(), "127.0.0.1");
    FAIL("no exception");
  } catch (const ws::ListenError &e) {
    std::string what = e.what();
    CHECK(what.find("127.0.0.1:" + std::to_string(first.port())) !=
          std::string::npos);
    CHECK(what.find("in use") != std::string::npos);
  }
  CHECK_THROWS_AS(second.listen(0, "no-such-host.invalid"), ws::ListenError);
}

TEST_CASE("listen() with no host takes every interface, IPv6 and IPv4") {
  ws::Server server;
  server.listen(0);
  CHECK(server.port() != 0);
  // Both loopbacks: a client of "localhost" may try either first, and Node
  // 18 tries no other. On Windows an IPv6 socket takes IPv4 only if told.
  for (const auto &host : test::loopbacks()) {
    INFO(host);
    ws::WebSocket socket("ws://" + host + ":" + std::to_string(server.port()) +
                         "/");
    wait_until(
        [&] { return socket.readyState() != ws::WebSocket::CONNECTING; });
    CHECK(socket.readyState() == ws::WebSocket::OPEN);
  }
}

TEST_CASE("broadcast reaches all 50 open clients, text and binary") {
  ws::Server server;
  server.listen(0, "127.0.0.1");
  std::vector<std::unique_ptr<ws::WebSocket>> sockets;
  std::vector<std::vector<ws::MessageEvent>> got(50);
  for (int i = 0; i < 50; ++i) {
    sockets.push_back(std::make_unique<ws::WebSocket>(test::local_url(server)));
    sockets.back()->onmessage = [&got, i](const ws::MessageEvent &e) {
      got[i].push_back(e);
    };
  }
  wait_until([&] { return server.clients().size() == 50; });
  server.broadcast("hello all");
  server.broadcast(ws::Binary{1, 2, 3});
  wait_until([&] {
    for (const auto &g : got)
      if (g.size() < 2)
        return false;
    return true;
  });
  for (const auto &g : got) {
    REQUIRE(g.size() == 2);
    CHECK(g[0].data == "hello all");
    CHECK(!g[0].isBinary);
    CHECK(g[1].binary() == ws::Binary{1, 2, 3});
  }
}

TEST_CASE("clients() lists only open sockets") {
  ws::Server server;
  server.listen(0, "127.0.0.1");
  ws::WebSocket a(test::local_url(server)), b(test::local_url(server));
  wait_until([&] { return server.clients().size() == 2; });
  a.close();
  wait_until([&] { return a.readyState() == ws::WebSocket::CLOSED; });
  wait_until([&] { return server.clients().size() == 1; });
}

TEST_CASE("server.close() closes every socket with 1001 and run() returns") {
  ws::Server server;
  server.listen(0, "127.0.0.1");
  const auto port = server.port();
  std::vector<std::unique_ptr<ws::WebSocket>> sockets;
  std::vector<ws::CloseEvent> closes;
  for (int i = 0; i < 5; ++i) {
    sockets.push_back(std::make_unique<ws::WebSocket>(test::local_url(server)));
    sockets.back()->onclose = [&](const ws::CloseEvent &e) {
      closes.push_back(e);
    };
  }
  wait_until([&] { return server.clients().size() == 5; });
  server.close();
  ws::run(); // returns: nothing is left to do
  REQUIRE(closes.size() == 5);
  for (const auto &c : closes) {
    CHECK(c.code == 1001);
    CHECK(c.wasClean);
  }
  // Not listening any more.
  ws::WebSocket late("ws://127.0.0.1:" + std::to_string(port) + "/");
  test::Recorder r;
  r.attach(late);
  wait_until([&] { return r.closed(); });
  CHECK(r.closes[0].code == 1006);
}

TEST_CASE("destroying the server mid-traffic is safe") {
  auto server = std::make_unique<ws::Server>();
  server->onconnection = [](ws::WebSocket &s, const ws::Request &) {
    s.onmessage = [&s](const ws::MessageEvent &e) { s.send(e.data); };
  };
  server->listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(*server));
  test::Recorder r;
  r.attach(socket);
  int echoes = 0;
  socket.onmessage = [&](const ws::MessageEvent &) {
    if (++echoes == 3)
      server.reset(); // from inside the loop, with traffic in flight
    else
      socket.send(std::string(10000, 'm'));
  };
  socket.onopen = [&](const ws::Event &) { socket.send("go"); };
  wait_until([&] { return r.closed(); });
  CHECK(!server);
  CHECK(r.closes[0].code == 1001);
}

TEST_CASE("handleProtocols choosing a name not offered rejects the upgrade") {
  int reported = 0;
  ws::setUncaughtExceptionHandler([&](std::exception_ptr) { ++reported; });
  ws::Server server;
  server.handleProtocols = [](const std::vector<std::string> &,
                              const ws::Request &) { return "other"; };
  server.listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(server), "chat");
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  ws::setUncaughtExceptionHandler(nullptr);
  CHECK(r.events == std::vector<std::string>{"error", "close"});
  CHECK(r.errors[0].find("500") != std::string::npos);
  CHECK(reported == 1);
}

TEST_CASE("without ServerOptions::log nothing is written") {
  CoutCapture captured;
  ws::Server server;
  server.onconnection = [](ws::WebSocket &s, const ws::Request &) {
    s.close(1000, "bye");
  };
  server.listen(0, "127.0.0.1");
  bool closed = false;
  ws::WebSocket socket(test::local_url(server, "/"));
  socket.onclose = [&](const ws::CloseEvent &) { closed = true; };
  wait_until([&] { return closed; });
  CHECK(captured.text.str().empty());
}

TEST_CASE("ServerOptions::log writes a line as each socket opens, is refused "
          "and closes") {
  CoutCapture captured;
  ws::ServerOptions o;
  o.log = true;
  o.allowedOrigins = {"https://chat.example"};
  auto server = std::make_unique<ws::Server>(o);
  server->onconnection = [](ws::WebSocket &s, const ws::Request &) {
    s.close(1000, "bye");
  };
  server->listen(0, "127.0.0.1");
  int closed = 0;
  ws::WebSocket welcome(test::local_url(*server, "/room"));
  welcome.onclose = [&](const ws::CloseEvent &) { ++closed; };
  ws::ClientOptions elsewhere;
  elsewhere.origin = "https://elsewhere.example";
  ws::WebSocket refused(test::local_url(*server, "/"), {}, elsewhere);
  refused.onclose = [&](const ws::CloseEvent &) { ++closed; };
  wait_until([&] {
    return closed == 2 &&
           captured.text.str().find("Disconnect") != std::string::npos;
  });
  const std::string log = captured.text.str();
  INFO(log);
  const std::string peer = "WebSocket Connection 127.0.0.1:";
  CHECK(log.find("[connect] " + peer) != std::string::npos);
  CHECK(log.find(" v13 \"ws/" WS_VERSION "\" /room 101") != std::string::npos);
  CHECK(log.find("[fail] " + peer) != std::string::npos);
  CHECK(log.find(" / 403 ") != std::string::npos);
  CHECK(log.find("[disconnect] Disconnect close local:[1000,bye]") !=
        std::string::npos);
  // Closing the server stops the accept it had waiting: no connection
  // failed, so nothing more is logged.
  server.reset();
  ws::runUntil([] { return false; }, std::chrono::milliseconds(300));
  CHECK(captured.text.str() == log);
}
