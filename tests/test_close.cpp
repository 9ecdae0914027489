// close(): codes and reasons in both directions, wasClean, 1005 and 1006,
// the exceptions, and what happens to messages around a close.
// SPDX-License-Identifier: MIT
#include "support.hpp"

using test::wait_until;

namespace {

std::string euros(int n) {
  std::string s;
  for (int i = 0; i < n; ++i)
    s += "\xe2\x82\xac"; // 3 bytes of UTF-8 each
  return s;
}

} // namespace

TEST_CASE("a client's code and reason reach the server; both close clean") {
  test::OpenClient o;
  o.socket.close(4000, "bye");
  CHECK(o.socket.readyState() == ws::WebSocket::CLOSING);
  wait_until([&] { return o.r.closed() && !o.echo.closes.empty(); });
  CHECK(o.echo.closes[0].code == 4000);
  CHECK(o.echo.closes[0].reason == "bye");
  CHECK(o.echo.closes[0].wasClean);
  CHECK(o.r.closes[0].code == 4000); // the server echoes it back
  CHECK(o.r.closes[0].reason == "bye");
  CHECK(o.r.closes[0].wasClean);
  CHECK(o.r.events == std::vector<std::string>{"open", "close"});
  CHECK(o.socket.readyState() == ws::WebSocket::CLOSED);
}

TEST_CASE("a server's code and reason reach the client") {
  ws::Server server;
  std::vector<ws::CloseEvent> server_saw;
  server.onconnection = [&](ws::WebSocket &s, const ws::Request &) {
    s.onclose = [&](const ws::CloseEvent &e) { server_saw.push_back(e); };
    s.close(4001, "server says bye");
  };
  server.listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(server));
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed() && !server_saw.empty(); });
  CHECK(r.closes[0].code == 4001);
  CHECK(r.closes[0].reason == "server says bye");
  CHECK(r.closes[0].wasClean);
  CHECK(server_saw[0].wasClean);
}

TEST_CASE("close() without a code sends no body: the peer reports 1005") {
  ws::Server server;
  server.onconnection = [](ws::WebSocket &s, const ws::Request &) {
    s.close();
  };
  server.listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(server));
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  CHECK(r.closes[0].code == 1005);
  CHECK(r.closes[0].reason.empty());
  CHECK(r.closes[0].wasClean);

  test::OpenClient o;
  o.socket.close();
  wait_until([&] { return !o.echo.closes.empty(); });
  CHECK(o.echo.closes[0].code == 1005);
  // The answer has no code either (websocketpp's own answers 1000).
  wait_until([&] { return o.r.closed(); });
  CHECK(o.r.closes[0].code == 1005);
  CHECK(o.r.closes[0].wasClean);
}

TEST_CASE("close() refuses codes other than 1000 and 3000-4999") {
  test::OpenClient o;
  for (int code : {0, 999, 1001, 1002, 1005, 1006, 1015, 2999, 5000, 65535}) {
    INFO(code);
    CHECK_THROWS_AS(o.socket.close(static_cast<std::uint16_t>(code)),
                    ws::InvalidAccessError);
  }
  try {
    o.socket.close(2999);
  } catch (const ws::DOMException &e) {
    CHECK(e.name() == "InvalidAccessError");
  }
  CHECK(o.socket.readyState() == ws::WebSocket::OPEN);
  o.socket.close(3000, "ok");
  wait_until([&] { return o.r.closed(); });
  CHECK(o.r.closes[0].code == 3000);
}

TEST_CASE("a reason over 123 bytes of UTF-8 throws SyntaxError") {
  test::OpenClient o;
  CHECK_THROWS_AS(o.socket.close(1000, euros(41) + "a"), ws::SyntaxError);
  CHECK_THROWS_AS(o.socket.close(1000, std::string(124, 'a')), ws::SyntaxError);
  CHECK_THROWS_AS(o.socket.close(1000, "\xff"), ws::SyntaxError);
  // The code is checked before the reason, as in the spec.
  CHECK_THROWS_AS(o.socket.close(1, std::string(200, 'a')),
                  ws::InvalidAccessError);
  CHECK(o.socket.readyState() == ws::WebSocket::OPEN);
  o.socket.close(4999, euros(41)); // exactly 123 bytes
  wait_until([&] { return !o.echo.closes.empty(); });
  CHECK(o.echo.closes[0].code == 4999);
  CHECK(o.echo.closes[0].reason == euros(41));
}

TEST_CASE("close() while CONNECTING fails the connection") {
  test::EchoServer echo;
  ws::WebSocket socket(echo.url());
  test::Recorder r;
  r.attach(socket);
  socket.close(1000, "never mind");
  CHECK(socket.readyState() == ws::WebSocket::CLOSING);
  wait_until([&] { return r.closed(); });
  CHECK(r.events == std::vector<std::string>{"error", "close"});
  CHECK(r.closes[0].code == 1006);
  CHECK(!r.closes[0].wasClean);

  // The same once the TCP connection is under way.
  ws::WebSocket later(echo.url());
  test::Recorder r2;
  r2.attach(later);
  ws::runUntil([] { return false; }, std::chrono::milliseconds(0));
  later.close();
  wait_until([&] { return r2.closed(); });
  CHECK(r2.events == std::vector<std::string>{"error", "close"});
  CHECK(r2.closes[0].code == 1006);
}

TEST_CASE("a second close() does nothing") {
  test::OpenClient o;
  o.socket.close(4000, "first");
  o.socket.close(4002, "second");
  wait_until([&] { return o.r.closed(); });
  CHECK(o.r.closes.size() == 1);
  CHECK(o.r.closes[0].code == 4000);
  o.socket.close(4003);
  CHECK(o.socket.readyState() == ws::WebSocket::CLOSED);
}

TEST_CASE("messages arriving after close() are dropped") {
  ws::Server server;
  server.onconnection = [](ws::WebSocket &s, const ws::Request &) {
    for (int i = 0; i < 10; ++i)
      s.send("message " + std::to_string(i));
  };
  server.listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(server));
  std::vector<std::string> got;
  bool closed = false;
  socket.onmessage = [&](const ws::MessageEvent &e) {
    got.push_back(e.data);
    socket.close();
  };
  socket.onclose = [&](const ws::CloseEvent &) { closed = true; };
  wait_until([&] { return closed; });
  CHECK(got == std::vector<std::string>{"message 0"});
}

TEST_CASE("messages sent before close() arrive before the close") {
  ws::Server server;
  std::vector<std::string> server_got;
  bool server_closed = false;
  server.onconnection = [&](ws::WebSocket &s, const ws::Request &) {
    s.onmessage = [&](const ws::MessageEvent &e) {
      server_got.push_back(e.data);
    };
    s.onclose = [&](const ws::CloseEvent &) { server_closed = true; };
  };
  server.listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(server));
  socket.onopen = [&](const ws::Event &) {
    socket.send("one");
    socket.send(std::string(100000, 't'));
    socket.send("three");
    socket.close(1000);
  };
  wait_until([&] { return server_closed; });
  REQUIRE(server_got.size() == 3);
  CHECK(server_got[2] == "three");
}

TEST_CASE("TCP closed without a close frame: close 1006, and no error") {
  test::ScriptedServer peer(
      [&](const std::string &) -> std::string { return ""; });
  peer.respond = [&peer](const std::string &) { return peer.upgrade(); };
  ws::WebSocket socket(peer.url());
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  // RFC 6455 7.1.7: that is not failing the connection (Chromium and Node
  // fire no error either).
  CHECK(r.events == std::vector<std::string>{"open", "close"});
  CHECK(r.closes[0].code == 1006);
  CHECK(!r.closes[0].wasClean);
}
