// How a connection ends, in both roles, against a scripted peer that
// misbehaves: an invalid close frame fails the connection (error, then close
// 1006, and a close frame 1002 to the peer); a peer that drops TCP without a
// close frame gives close 1006 and no error (RFC 6455 7.1.7, WHATWG: error
// fires only when the connection had to be failed).
// SPDX-License-Identifier: MIT
#include "raw_client.hpp"

using namespace test::opcode;
using test::frame;
using test::wait_until;
using ws::WebSocket;

namespace {

/// The close frames RFC 6455 forbids (5.5.1, 7.4): codes that must never be
/// on the wire, a body of one byte, a reason that is not UTF-8.
struct BadClose {
  const char *what;
  std::string payload;
};
std::vector<BadClose> bad_closes() {
  std::vector<BadClose> cases;
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535})
    cases.push_back({"code", test::close_payload(code)});
  cases.push_back({"one byte", std::string(1, '\x03')});
  cases.push_back({"reason not UTF-8", test::close_payload(1000, "\xFF")});
  cases.push_back(
      {"reason cut inside a character", test::close_payload(1000, "caf\xC3")});
  return cases;
}

/// A server whose sockets record their events.
struct RecordingServer {
  ws::Server server;
  std::vector<std::unique_ptr<test::Recorder>> sockets;
  RecordingServer() {
    server.onconnection = [this](WebSocket &s, const ws::Request &) {
      sockets.push_back(std::make_unique<test::Recorder>());
      sockets.back()->attach(s);
      sockets.back()->events.push_back("open");
    };
    server.listen(0, "127.0.0.1");
  }
  test::Recorder &only() {
    REQUIRE(sockets.size() == 1);
    return *sockets[0];
  }
};

} // namespace

TEST_CASE("client: an invalid close frame from the server fails the "
          "connection: error, close 1006, and 1002 back") {
  for (const auto &c : bad_closes()) {
    INFO(c.what << " "
                << (test::Frame{true, 0, CLOSE, c.payload}.close_code()));
    test::MisbehavingServer peer(frame(CLOSE, c.payload, true, 0, false),
                                 false);
    WebSocket socket(peer.url());
    test::Recorder r;
    r.attach(socket);
    wait_until([&] { return r.closed(); });
    CHECK(r.events == std::vector<std::string>{"open", "error", "close"});
    CHECK(r.closes[0].code == 1006);
    CHECK_FALSE(r.closes[0].wasClean);
    wait_until([&] { return peer.close_frame().has_value(); });
    CHECK(peer.close_frame()->close_code() == 1002);
  }
}

TEST_CASE("client: a valid close frame from the server is a clean close") {
  for (int code : {1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999}) {
    INFO(code);
    test::MisbehavingServer peer(
        frame(CLOSE, test::close_payload(code, "why"), true, 0, false), false);
    WebSocket socket(peer.url());
    test::Recorder r;
    r.attach(socket);
    wait_until([&] { return r.closed(); });
    CHECK(r.events == std::vector<std::string>{"open", "close"});
    CHECK(r.closes[0].code == code);
    CHECK(r.closes[0].reason == "why");
    CHECK(r.closes[0].wasClean);
    // The answer repeats the code, as websocketpp and Node do.
    wait_until([&] { return peer.close_frame().has_value(); });
    CHECK(peer.close_frame()->close_code() == code);
  }
  // Even one whose reason reads like websocketpp's own words.
  test::MisbehavingServer peer(
      frame(CLOSE, test::close_payload(1002, "Invalid close code"), true, 0,
            false),
      false);
  WebSocket socket(peer.url());
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  CHECK(r.events == std::vector<std::string>{"open", "close"});
  CHECK(r.closes[0].code == 1002);
  CHECK(r.closes[0].wasClean);
}

TEST_CASE("client: the server drops TCP without a close frame: close 1006, "
          "no error") {
  struct Case {
    const char *what;
    std::string script;
    std::size_t messages;
  };
  const std::vector<Case> cases = {
      {"at once", "", 0},
      {"between messages", frame(TEXT, "one", true, 0, false), 1},
      {"inside a frame",
       frame(TEXT, "one", true, 0, false) +
           frame(BINARY, std::string(1000, 'x'), true, 0, false).substr(0, 10),
       1},
      {"between fragments",
       frame(TEXT, "half", false, 0, false) /* no final fragment */, 0},
  };
  for (const auto &c : cases) {
    INFO(c.what);
    test::MisbehavingServer peer(c.script, true);
    WebSocket socket(peer.url());
    test::Recorder r;
    r.attach(socket);
    wait_until([&] { return r.closed(); });
    std::vector<std::string> expected = {"open"};
    expected.insert(expected.end(), c.messages, "message");
    expected.push_back("close");
    CHECK(r.events == expected);
    CHECK(r.closes[0].code == 1006);
    CHECK_FALSE(r.closes[0].wasClean);
    CHECK(r.closes[0].reason.empty());
  }
}

TEST_CASE("server: an invalid close frame from a client fails the "
          "connection: error, close 1006, and 1002 back") {
  for (const auto &c : bad_closes()) {
    INFO(c.what << " "
                << (test::Frame{true, 0, CLOSE, c.payload}.close_code()));
    RecordingServer s;
    test::LoopPeer peer(s.server.port());
    peer.send(test::upgrade_request() + frame(TEXT, "hi") +
              frame(CLOSE, c.payload));
    wait_until([&] { return s.sockets.size() == 1 && s.only().closed(); });
    CHECK(s.only().events ==
          std::vector<std::string>{"open", "message", "error", "close"});
    CHECK(s.only().closes[0].code == 1006);
    CHECK_FALSE(s.only().closes[0].wasClean);
    wait_until([&] {
      for (const auto &f : peer.frames())
        if (f.opcode == CLOSE)
          return true;
      return false;
    });
    CHECK(peer.frames().back().opcode == CLOSE);
    CHECK(peer.frames().back().close_code() == 1002);
  }
}

TEST_CASE("server: a client that drops TCP without a close frame: close "
          "1006, no error") {
  struct Case {
    const char *what;
    std::string after_upgrade;
    std::size_t messages;
    bool reset;
  };
  const std::vector<Case> cases = {
      {"at once", "", 0, false},
      {"between messages", frame(TEXT, "one"), 1, false},
      {"inside a frame",
       frame(TEXT, "one") + frame(BINARY, std::string(1000, 'x')).substr(0, 10),
       1, false},
      {"by a reset", frame(TEXT, "one"), 1, true},
  };
  for (const auto &c : cases) {
    INFO(c.what);
    RecordingServer s;
    test::LoopPeer peer(s.server.port());
    peer.send(test::upgrade_request() + c.after_upgrade);
    wait_until([&] {
      return s.sockets.size() == 1 && s.only().messages.size() == c.messages &&
             peer.flushed();
    });
    if (c.reset)
      peer.reset();
    else
      peer.close();
    wait_until([&] { return s.only().closed(); });
    std::vector<std::string> expected = {"open"};
    expected.insert(expected.end(), c.messages, "message");
    expected.push_back("close");
    CHECK(s.only().events == expected);
    CHECK(s.only().closes[0].code == 1006);
    CHECK_FALSE(s.only().closes[0].wasClean);
  }
}

TEST_CASE("server: a protocol error from a client fails the connection with "
          "its code; a valid close is clean") {
  struct Case {
    const char *what;
    std::string bytes;
    int code; // what the client gets; 0: a clean close
  };
  const std::vector<Case> cases = {
      {"unmasked frame", frame(TEXT, "a", true, 0, false), 1002},
      {"reserved bit", frame(TEXT, "a", true, 1), 1002},
      {"text not UTF-8", frame(TEXT, "\xFF"), 1007},
      {"unknown opcode", frame(3, "a"), 1002},
      {"close 1000", frame(CLOSE, test::close_payload(1000, "bye")), 0},
      {"close without a body", frame(CLOSE, ""), 0},
  };
  for (const auto &c : cases) {
    INFO(c.what);
    RecordingServer s;
    test::LoopPeer peer(s.server.port());
    peer.send(test::upgrade_request() + c.bytes);
    wait_until([&] { return s.sockets.size() == 1 && s.only().closed(); });
    const auto &r = s.only();
    if (c.code) {
      CHECK(r.events == std::vector<std::string>{"open", "error", "close"});
      CHECK(r.closes[0].code == 1006);
    } else {
      CHECK(r.events == std::vector<std::string>{"open", "close"});
      CHECK(r.closes[0].wasClean);
    }
    wait_until([&] {
      auto f = peer.frames();
      return !f.empty() && f.back().opcode == CLOSE;
    });
    if (c.code)
      CHECK(peer.frames().back().close_code() == c.code);
  }
}

// Pings: RFC 6455 5.5.3 lets a pong answer several pings, but never leave the
// most recent one unanswered. Autobahn 2.10 sends ten pings at once and 2.11
// the same a byte at a time; both want ten pongs, each with its payload.

namespace {
std::string ten_pings(bool masked) {
  std::string out;
  for (int i = 0; i < 10; ++i)
    out += frame(PING, "payload-" + std::to_string(i), true, 0, masked);
  return out;
}
std::vector<std::string> pong_payloads(const std::vector<test::Frame> &fs) {
  std::vector<std::string> out;
  for (const auto &f : fs)
    if (f.opcode == PONG)
      out.push_back(f.payload);
  return out;
}
std::vector<std::string> ten_payloads() {
  std::vector<std::string> out;
  for (int i = 0; i < 10; ++i)
    out.push_back("payload-" + std::to_string(i));
  return out;
}
} // namespace

TEST_CASE("server: ten pings in one write get ten pongs in order "
          "(Autobahn 2.10)") {
  RecordingServer s;
  test::LoopPeer peer(s.server.port());
  peer.send(test::upgrade_request() + ten_pings(true));
  wait_until([&] { return pong_payloads(peer.frames()).size() >= 10; });
  CHECK(pong_payloads(peer.frames()) == ten_payloads());
}

TEST_CASE("server: ten pings sent a byte at a time get ten pongs "
          "(Autobahn 2.11)") {
  RecordingServer s;
  test::LoopPeer peer(s.server.port());
  peer.send(test::upgrade_request());
  for (char byte : ten_pings(true)) {
    peer.send(std::string(1, byte));
    wait_until([&] { return peer.flushed(); });
  }
  wait_until([&] { return pong_payloads(peer.frames()).size() >= 10; });
  CHECK(pong_payloads(peer.frames()) == ten_payloads());
}

TEST_CASE("client: ten pings in one write get ten pongs in order "
          "(Autobahn 2.10)") {
  test::MisbehavingServer peer(ten_pings(false), false);
  WebSocket socket(peer.url());
  wait_until([&] {
    return pong_payloads(test::client_frames(*peer.received)).size() >= 10;
  });
  CHECK(pong_payloads(test::client_frames(*peer.received)) == ten_payloads());
}
