// RFC 6455 conformance of the server role: raw frames sent to echo_server,
// and what a compliant server must answer.
// SPDX-License-Identifier: MIT
#include "raw_client.hpp"

#include <cstdlib>

using test::frame;
using namespace test::opcode;
using test::RawClient;

namespace {

/// echo_server, started once for this program on a free loopback port.
std::uint16_t echo_port() {
  static test::Process server([] {
    const char *path = std::getenv("ECHO_SERVER");
    REQUIRE(path != nullptr);
    return std::vector<std::string>{path, "--port", "0", "--host", "127.0.0.1"};
  }());
  static const std::uint16_t port = [] {
    std::string line = server.read_line();
    return static_cast<std::uint16_t>(
        std::stoi(line.substr(line.rfind(':') + 1)));
  }();
  return port;
}

/// The server must answer with a close frame carrying `code`, then drop the
/// TCP connection.
void expect_close(RawClient &c, int code) {
  auto f = c.read_frame();
  REQUIRE(f);
  CHECK(f->opcode == CLOSE);
  CHECK(f->close_code() == code);
  CHECK(c.closed_by_server());
}

std::string sized(std::size_t n) {
  std::string s(n, 'a');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('a' + i % 26);
  return s;
}

} // namespace

TEST_CASE("every frame size class echoes intact, text and binary") {
  RawClient c(echo_port());
  for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u, 1u << 20}) {
    INFO(n);
    for (int op : {TEXT, BINARY}) {
      c.send_raw(frame(op, sized(n)));
      auto f = c.read_frame();
      REQUIRE(f);
      CHECK(f->opcode == op);
      CHECK(f->fin);
      CHECK(f->rsv == 0);
      CHECK(f->payload == sized(n));
    }
  }
  c.send_raw(frame(CLOSE, test::close_payload(1000)));
  expect_close(c, 1000);
}

TEST_CASE("a fragmented message with a ping between fragments") {
  RawClient c(echo_port());
  c.send_raw(frame(TEXT, "Hel", false) + frame(PING, "between", true) +
             frame(CONT, "lo, ", false) + frame(CONT, "world", true));
  auto pong = c.read_frame();
  REQUIRE(pong);
  CHECK(pong->opcode == PONG);
  CHECK(pong->payload == "between");
  auto echo = c.read_frame();
  REQUIRE(echo);
  CHECK(echo->opcode == TEXT);
  CHECK(echo->payload == "Hello, world");
}

TEST_CASE("ping is answered by a pong with the same payload") {
  RawClient c(echo_port());
  for (const std::string &payload : {std::string(), std::string(125, 'p')}) {
    c.send_raw(frame(PING, payload));
    auto f = c.read_frame();
    REQUIRE(f);
    CHECK(f->opcode == PONG);
    CHECK(f->payload == payload);
  }
}

TEST_CASE("an unsolicited pong is ignored") {
  RawClient c(echo_port());
  c.send_raw(frame(PONG, "unasked") + frame(TEXT, "after"));
  auto f = c.read_frame();
  REQUIRE(f);
  CHECK(f->opcode == TEXT);
  CHECK(f->payload == "after");
}

TEST_CASE("protocol errors are answered by close 1002") {
  struct Case {
    const char *what;
    std::string bytes;
  };
  std::vector<Case> cases = {
      {"RSV1", frame(TEXT, "x", true, 4)},
      {"RSV2", frame(TEXT, "x", true, 2)},
      {"RSV3", frame(TEXT, "x", true, 1)},
      {"control frame over 125 bytes", frame(PING, std::string(126, 'p'))},
      {"fragmented control frame", frame(PING, "p", false)},
      {"continuation with nothing to continue", frame(CONT, "x")},
      {"unmasked client frame", frame(TEXT, "x", true, 0, false)},
      {"new message inside a fragmented one",
       frame(TEXT, "a", false) + frame(TEXT, "b")},
  };
  for (int op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15})
    cases.push_back({"reserved opcode", frame(op, "")});
  for (const auto &c : cases) {
    INFO(c.what << " " << c.bytes.size());
    RawClient client(echo_port());
    client.send_raw(c.bytes);
    expect_close(client, 1002);
  }
}

TEST_CASE("invalid UTF-8 in a text message is answered by close 1007") {
  for (const std::string &bytes :
       {frame(TEXT, "\xff"), frame(TEXT, "a\xed\xa0\x80"),
        frame(TEXT, "\xce", false) + frame(CONT, "\x41"),
        // Ends inside a character: websocketpp 0.8.2 alone delivers this.
        frame(TEXT, "a", false) + frame(CONT, "\xe2\x82")}) {
    RawClient c(echo_port());
    c.send_raw(bytes);
    expect_close(c, 1007);
  }
}

TEST_CASE("valid multi-byte UTF-8 split across fragments passes") {
  RawClient c(echo_port());
  c.send_raw(frame(TEXT, "\xe2", false) + frame(CONT, "\x82", false) +
             frame(CONT, "\xac!"));
  auto f = c.read_frame();
  REQUIRE(f);
  CHECK(f->payload == "\xe2\x82\xac!");
}

TEST_CASE("close frames with invalid codes or 1 byte get close 1002") {
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000}) {
    INFO(code);
    RawClient c(echo_port());
    c.send_raw(frame(CLOSE, test::close_payload(code)));
    expect_close(c, 1002);
  }
  RawClient c(echo_port());
  c.send_raw(frame(CLOSE, "\x03"));
  expect_close(c, 1002);
}

TEST_CASE("close frames with valid codes are echoed") {
  for (int code :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999}) {
    INFO(code);
    RawClient c(echo_port());
    c.send_raw(frame(CLOSE, test::close_payload(code, "why")));
    expect_close(c, code);
  }
}

TEST_CASE("nothing is processed after a close") {
  RawClient c(echo_port());
  c.send_raw(frame(CLOSE, test::close_payload(1000)) + frame(TEXT, "late") +
             frame(PING, "late"));
  expect_close(c, 1000);
}
