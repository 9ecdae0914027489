// What the client does with frames a server must never send (RFC 6455 5.2,
// 5.5, 7.4, 8.1), including the websocketpp 0.8.2 bugs the wrapper fixes.
// WHATWG: the UA "fails the WebSocket connection": error, then close 1006.
// SPDX-License-Identifier: MIT
#include "support.hpp"

using test::wait_until;

namespace {

/// Connects to a scripted server that completes the handshake and then
/// sends `frames`; returns what the client reported.
test::Recorder exchange(const std::string &frames) {
  test::ScriptedServer peer([](const std::string &) { return ""; });
  peer.then_close = false;
  peer.respond = [&](const std::string &) { return peer.upgrade() + frames; };
  ws::WebSocket socket(peer.url());
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  return r;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b)
    s += static_cast<char>(c);
  return s;
}

void check_failed(const test::Recorder &r) {
  CHECK(r.events == std::vector<std::string>{"open", "error", "close"});
  REQUIRE(r.closed());
  CHECK(r.closes[0].code == 1006);
  CHECK(!r.closes[0].wasClean);
  CHECK(r.messages.empty());
}

} // namespace

TEST_CASE("a frame with a reserved bit set fails the connection") {
  check_failed(exchange(bytes({0xC1, 0x01, 'a'})));
}

TEST_CASE("a masked frame from the server fails the connection") {
  check_failed(exchange(bytes({0x81, 0x81, 1, 2, 3, 4, 'a' ^ 1})));
}

TEST_CASE("a reserved opcode fails the connection") {
  check_failed(exchange(bytes({0x83, 0x00})));
}

TEST_CASE("text that is not UTF-8 fails the connection") {
  check_failed(exchange(bytes({0x81, 0x01, 0xFF})));
}

TEST_CASE("a fragmented text message ending inside a character fails") {
  // websocketpp 0.8.2 would deliver this one; the wrapper catches it.
  check_failed(exchange(bytes({0x01, 0x01, 'a', 0x80, 0x02, 0xE2, 0x82})));
}

TEST_CASE("valid UTF-8 split across fragments is delivered whole") {
  auto r = exchange(bytes(
      {0x01, 0x02, 0xE2, 0x82, 0x80, 0x01, 0xAC, 0x88, 0x02, 0x03, 0xE8}));
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].data == "\xe2\x82\xac");
  CHECK(r.closes[0].code == 1000);
  CHECK(r.closes[0].reason.empty());
  CHECK(r.closes[0].wasClean);
}

TEST_CASE("a close frame with a code never sent on the wire fails") {
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 2999, 5000}) {
    INFO(code);
    check_failed(exchange(bytes({0x88, 0x02, code >> 8, code & 0xFF})));
  }
}

TEST_CASE("a close frame with a 1-byte payload fails") {
  check_failed(exchange(bytes({0x88, 0x01, 0x03})));
}

TEST_CASE("a valid close frame closes cleanly with its code and reason") {
  auto r = exchange(bytes({0x88, 0x05, 0x0F, 0xA0, 'b', 'y', 'e'}));
  CHECK(r.events == std::vector<std::string>{"open", "close"});
  CHECK(r.closes[0].code == 4000);
  CHECK(r.closes[0].reason == "bye");
  CHECK(r.closes[0].wasClean);
}

TEST_CASE("a server that sends close but never drops TCP: clean, its code") {
  // websocketpp calls this a failed close handshake after its timeout;
  // Chromium reports the server's code as a clean close, and so do we.
  test::ScriptedServer peer([](const std::string &) { return ""; });
  peer.then_close = false;
  peer.hold_open = true;
  peer.respond = [&](const std::string &) {
    return peer.upgrade() + bytes({0x88, 0x05, 0x0F, 0xA1, 'b', 'y', 'e'});
  };
  ws::ClientOptions quick; // the wait for TCP's end is closeTimeout
  quick.closeTimeout = std::chrono::milliseconds(300);
  ws::WebSocket socket(peer.url(), {}, quick);
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  CHECK(r.events == std::vector<std::string>{"open", "close"});
  CHECK(r.closes[0].code == 4001);
  CHECK(r.closes[0].reason == "bye");
  CHECK(r.closes[0].wasClean);
}

TEST_CASE("a wrong Sec-WebSocket-Accept fails the handshake") {
  test::ScriptedServer peer([](const std::string &) {
    return std::string("HTTP/1.1 101 Switching Protocols\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: d3Jvbmc=\r\n\r\n");
  });
  peer.then_close = false;
  ws::WebSocket socket(peer.url());
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  CHECK(r.events == std::vector<std::string>{"error", "close"});
  CHECK(r.closes[0].code == 1006);
  CHECK(!r.closes[0].wasClean);
}
