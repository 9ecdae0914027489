// send(): text and binary round trips of every frame size class,
// bufferedAmount, and the spec's rules for CONNECTING, CLOSING and CLOSED.
// SPDX-License-Identifier: MIT
#include "support.hpp"
#include <random>

using test::wait_until;

namespace {

std::string text_of(std::size_t size) {
  std::string s(size, 'x');
  for (std::size_t i = 0; i < size; ++i)
    s[i] = static_cast<char>('a' + i % 26);
  return s;
}

ws::Binary bytes_of(std::size_t size) {
  ws::Binary b(size);
  for (std::size_t i = 0; i < size; ++i)
    b[i] = static_cast<std::uint8_t>(i * 7 + 3);
  return b;
}

} // namespace

TEST_CASE("text and binary echo intact at every frame size class") {
  test::OpenClient o;
  auto &socket = o.socket;
  auto &r = o.r;
  const std::size_t sizes[] = {0, 1, 125, 126, 65535, 65536, 1 << 20};
  for (std::size_t size : sizes) {
    socket.send(text_of(size));
    socket.send(bytes_of(size));
  }
  wait_until([&] { return r.messages.size() == 2 * std::size(sizes); });
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    INFO("size " << sizes[i]);
    const auto &text = r.messages[2 * i];
    const auto &binary = r.messages[2 * i + 1];
    CHECK(!text.isBinary);
    CHECK(text.data == text_of(sizes[i]));
    CHECK(binary.isBinary);
    CHECK(binary.binary() == bytes_of(sizes[i]));
    CHECK(text.type == "message");
    CHECK(*text.target == socket);
  }
  socket.close();
  wait_until([&] { return r.closed(); });
}

TEST_CASE("a server socket sends text and binary to a client") {
  ws::Server server;
  server.onconnection = [](ws::WebSocket &s, const ws::Request &) {
    s.send("caf\xc3\xa9 \xe2\x82\xac");
    s.send(ws::Binary{0, 255, 1});
    s.send(std::string(70000, 'z'));
  };
  server.listen(0, "127.0.0.1");
  ws::WebSocket socket(test::local_url(server));
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.messages.size() == 3; });
  CHECK(r.messages[0].data == "caf\xc3\xa9 \xe2\x82\xac");
  CHECK(!r.messages[0].isBinary);
  CHECK(r.messages[1].binary() == ws::Binary{0, 255, 1});
  CHECK(r.messages[1].isBinary);
  CHECK(r.messages[2].data == std::string(70000, 'z'));
}

TEST_CASE("send() while CONNECTING throws InvalidStateError") {
  test::EchoServer echo;
  ws::WebSocket socket(echo.url());
  REQUIRE(socket.readyState() == ws::WebSocket::CONNECTING);
  CHECK_THROWS_AS(socket.send("too early"), ws::InvalidStateError);
  CHECK_THROWS_AS(socket.send(ws::Binary{1}), ws::InvalidStateError);
  try {
    socket.send("x");
  } catch (const ws::DOMException &e) {
    CHECK(e.name() == "InvalidStateError");
  }
  CHECK(socket.bufferedAmount() == 0);
}

TEST_CASE("bufferedAmount counts queued bytes and falls to 0 once written") {
  test::OpenClient o;
  auto &socket = o.socket;
  auto &r = o.r;
  socket.send(std::string(1 << 20, 'a'));
  socket.send(ws::Binary(1000, 7));
  // Nothing can have been written yet: this thread runs the loop.
  CHECK(socket.bufferedAmount() == (1u << 20) + 1000);
  wait_until([&] { return r.messages.size() == 2; });
  wait_until([&] { return socket.bufferedAmount() == 0; });
}

TEST_CASE("after close() send() sends nothing and grows bufferedAmount") {
  test::OpenClient o;
  auto &socket = o.socket;
  auto &r = o.r;
  socket.send("before");
  wait_until([&] { return r.messages.size() == 1; });
  wait_until([&] { return socket.bufferedAmount() == 0; });
  socket.close();
  CHECK(socket.readyState() == ws::WebSocket::CLOSING);
  CHECK_NOTHROW(socket.send("while closing")); // 13 bytes
  CHECK(socket.bufferedAmount() == 13);
  wait_until([&] { return r.closed(); });
  CHECK_NOTHROW(socket.send(ws::Binary(5)));
  CHECK(socket.bufferedAmount() == 18);
  // Nothing sent after close() reached the echo server, so nothing came back.
  CHECK(r.messages.size() == 1);
}

TEST_CASE("text that is not UTF-8 throws SyntaxError; as Binary it goes") {
  test::OpenClient o;
  auto &socket = o.socket;
  auto &r = o.r;
  for (const char *bad : {"\xff", "a\xc3", "\xed\xa0\x80", "\xc0\xaf"})
    CHECK_THROWS_AS(socket.send(bad), ws::SyntaxError);
  CHECK(socket.bufferedAmount() == 0);
  socket.send(ws::Binary{0xff, 0xc3});
  wait_until([&] { return r.messages.size() == 1; });
  CHECK(r.messages[0].binary() == ws::Binary{0xff, 0xc3});
}

TEST_CASE("the UTF-8 check agrees with websocketpp's validator") {
  // valid_utf8() skips ASCII eight bytes at a time: random strings around
  // every alignment, mostly ASCII with a few high bytes, against the
  // byte-by-byte validator.
  std::mt19937 random(6455);
  const char pieces[][5] = {
      "a",    "\xC3\xA9", "\xE2\x9C\x8C", "\xF0\x9F\x98\x80",
      "\xFF", "\xC3",     "\x80",         "\xED\xA0\x80"};
  for (int n = 0; n < 20000; ++n) {
    std::string s;
    const int length = static_cast<int>(random() % 40);
    for (int i = 0; i < length; ++i)
      s += random() % 6 ? "x" : pieces[random() % 8];
    INFO(n);
    REQUIRE(ws::detail::valid_utf8(s) ==
            websocketpp::utf8_validator::validate(s));
  }
}
