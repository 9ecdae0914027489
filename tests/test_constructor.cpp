// The WebSocket constructor: URL parsing, schemes, fragments, subprotocol
// lists, and the exceptions (WHATWG "new WebSocket(url, protocols)").
// SPDX-License-Identifier: MIT
#include "support.hpp"

using test::wait_until;

namespace {

std::string url_of(const std::string &input) {
  ws::WebSocket s(input);
  return s.url();
}

template <class E> std::string thrown_name(const std::function<void()> &f) {
  try {
    f();
  } catch (const E &e) {
    return e.name();
  }
  return "nothing thrown";
}

} // namespace

TEST_CASE("a valid URL is serialized as the URL parser does") {
  CHECK(url_of("ws://example.com") == "ws://example.com/");
  CHECK(url_of("ws://EXAMPLE.com:80/a?b=c") == "ws://example.com/a?b=c");
  CHECK(url_of("ws://example.com:443/") == "ws://example.com:443/");
  CHECK(url_of("ws://example.com:8080/chat") == "ws://example.com:8080/chat");
  CHECK(url_of("  ws://example.com/\t ") == "ws://example.com/");
  CHECK(url_of("ws://[::1]:9000/") == "ws://[::1]:9000/");
  CHECK(url_of("ws://[0:0:0:0:0:0:0:1]/") == "ws://[::1]/");
  CHECK(url_of("ws://127.1/") == "ws://127.0.0.1/");
  CHECK(url_of("ws://0x7f.0.0.1/") == "ws://127.0.0.1/");
  CHECK(url_of("ws://example.com/a b") == "ws://example.com/a%20b");
  CHECK(url_of("ws://example.com/a/../b/./c") == "ws://example.com/b/c");
  CHECK(url_of("ws://example.com\\path") == "ws://example.com/path");
  CHECK(url_of("ws:example.com") == "ws://example.com/");
  CHECK(url_of("ws://example.com/?") == "ws://example.com/?");
}

TEST_CASE("http and https map to ws and wss, as browsers now do") {
  CHECK(url_of("http://example.com/x") == "ws://example.com/x");
  CHECK(url_of("HTTP://example.com:80/") == "ws://example.com/");
#if WS_TLS
  CHECK(url_of("https://example.com/x") == "wss://example.com/x");
  CHECK(url_of("HTTPS://example.com:443/") == "wss://example.com/");
#else
  CHECK_THROWS_AS(url_of("https://example.com/"), ws::NotSupportedError);
#endif
}

TEST_CASE("an unparsable URL throws SyntaxError") {
  for (const char *bad :
       {"", "not a url", "/relative/path", "//example.com/", "ws://",
        "ws://exa mple.com/", "ws://example.com:99999/", "ws://example.com:x/",
        "ws://[::1/", "ws://[zz::1]/", "ws://1.2.3.256/", "ws://1.2.3.4.5/",
        "ws://ex%00ample.com/", "ws://:80/"}) {
    INFO(bad);
    CHECK(thrown_name<ws::SyntaxError>([&] { ws::WebSocket s(bad); }) ==
          "SyntaxError");
  }
}

TEST_CASE("a scheme other than ws, wss, http or https throws SyntaxError") {
  for (const char *bad : {"ftp://example.com/", "file:///etc/passwd",
                          "mailto:a@example.com", "javascript:alert(1)"}) {
    INFO(bad);
    try {
      ws::WebSocket s(bad);
      FAIL("no exception");
    } catch (const ws::SyntaxError &e) {
      CHECK(std::string(e.what()).find("scheme") != std::string::npos);
    }
  }
}

TEST_CASE("a URL with a fragment throws SyntaxError, even an empty one") {
  for (const char *bad : {"ws://example.com/#frag", "ws://example.com/#",
                          "http://example.com/?q#x"}) {
    INFO(bad);
    CHECK(thrown_name<ws::SyntaxError>([&] { ws::WebSocket s(bad); }) ==
          "SyntaxError");
  }
}

TEST_CASE("repeated or invalid subprotocols throw SyntaxError") {
  const std::string url = "ws://127.0.0.1:1/";
  using P = std::vector<std::string>;
  for (const P &bad : {P{"chat", "chat"}, P{""}, P{"a b"}, P{"a,b"},
                       P{"caf\xc3\xa9"}, P{"x", "y", "x"}, P{"tab\t"}}) {
    CHECK(thrown_name<ws::SyntaxError>([&] { ws::WebSocket s(url, bad); }) ==
          "SyntaxError");
  }
  CHECK_NOTHROW(ws::WebSocket(url, P{"chat.v2", "chat.v1", "Chat.v1"}));
  CHECK_NOTHROW(ws::WebSocket(url, "soap"));
}

TEST_CASE("exceptions derive from DOMException and name themselves") {
  try {
    ws::WebSocket s("ftp://x/");
    FAIL("no exception");
  } catch (const ws::DOMException &e) {
    CHECK(e.name() == "SyntaxError");
    CHECK(std::string(e.what()).rfind("SyntaxError: ", 0) == 0);
    CHECK(std::string(e.what()) == "SyntaxError: " + e.message());
  }
}

TEST_CASE("handlers assigned after construction see open: JS order works") {
  test::EchoServer echo;
  ws::WebSocket socket(echo.url());
  CHECK(socket.readyState() == ws::WebSocket::CONNECTING);
  CHECK(socket.protocol().empty());
  CHECK(socket.extensions().empty());
  CHECK(socket.bufferedAmount() == 0);
  CHECK(socket.binaryType() == "arraybuffer");
  test::Recorder r;
  r.attach(socket); // after the constructor, as JS code does
  wait_until([&] { return !r.events.empty(); });
  CHECK(r.events.front() == "open");
  CHECK(socket.readyState() == ws::WebSocket::OPEN);
}

TEST_CASE("connection refused: error, then close 1006 not clean") {
  // A port that was just free and has nobody listening.
  std::uint16_t port;
  {
    asio::ip::tcp::acceptor a(ws::detail::loop().ctx,
                              {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  ws::WebSocket socket("ws://127.0.0.1:" + std::to_string(port) + "/");
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  REQUIRE(r.events == std::vector<std::string>{"error", "close"});
  CHECK(!r.errors[0].empty());
  CHECK(r.closes[0].code == 1006);
  CHECK(!r.closes[0].wasClean);
  CHECK(r.closes[0].reason.empty());
  CHECK(socket.readyState() == ws::WebSocket::CLOSED);
  CHECK(r.states == std::vector<unsigned short>{3, 3});
}

TEST_CASE("an unresolvable host: error, then close 1006") {
  ws::WebSocket socket("ws://no-such-host.invalid/");
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  REQUIRE(r.events == std::vector<std::string>{"error", "close"});
  CHECK(r.closes[0].code == 1006);
}

TEST_CASE("an HTTP error answer to the upgrade fails the connection") {
  for (int status : {404, 500}) {
    test::ScriptedServer peer([status](const std::string &) {
      return "HTTP/1.1 " + std::to_string(status) +
             " Nope\r\nContent-Length: 0\r\n\r\n";
    });
    ws::WebSocket socket(peer.url());
    test::Recorder r;
    r.attach(socket);
    wait_until([&] { return r.closed(); });
    REQUIRE(r.events == std::vector<std::string>{"error", "close"});
    CHECK(r.errors[0].find(std::to_string(status)) != std::string::npos);
    CHECK(r.closes[0].code == 1006);
    CHECK(!r.closes[0].wasClean);
  }
}

TEST_CASE("the upgrade request offers the protocols in order") {
  test::ScriptedServer peer([](const std::string &) {
    return "HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n";
  });
  ws::WebSocket socket(peer.url(), {"chat.v2", "chat.v1"});
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed(); });
  CHECK(peer.header("Sec-WebSocket-Protocol") == "chat.v2, chat.v1");
  // What every browser offers.
  CHECK(peer.header("Sec-WebSocket-Extensions") ==
        "permessage-deflate; client_max_window_bits");
}

TEST_CASE("a non-ASCII host is refused: no IDNA here (README says so)") {
  CHECK(thrown_name<ws::SyntaxError>([] {
          ws::WebSocket s("ws://b\xc3\xbc"
                          "cher.de/");
        }) == "SyntaxError");
  CHECK(url_of("ws://xn--bcher-kva.de/") == "ws://xn--bcher-kva.de/");
}

TEST_CASE("ClientOptions::headers and origin reach the server's Request") {
  ws::ServerOptions only_ours;
  only_ours.allowedOrigins = {"https://chat.example.com"};
  ws::Server server(only_ours);
  std::vector<ws::Request> seen;
  server.onconnection = [&](ws::WebSocket &socket, const ws::Request &req) {
    seen.push_back(req);
    socket.close();
  };
  server.listen(0, "127.0.0.1");
  ws::ClientOptions options;
  options.headers = {{"Authorization", "Bearer abc"}, {"Cookie", "id=42"}};
  options.origin = "https://chat.example.com";
  ws::WebSocket client(test::local_url(server), {}, options);
  wait_until([&] { return seen.size() == 1; });
  CHECK(seen[0].header("authorization") == "Bearer abc");
  CHECK(seen[0].header("Cookie") == "id=42");
  CHECK(seen[0].header("Origin") == "https://chat.example.com");

  // The server checks the origin it is given: another one gets 403.
  options.origin = "https://evil.example.com";
  ws::WebSocket refused(test::local_url(server), {}, options);
  std::string error;
  refused.onerror = [&](const ws::ErrorEvent &e) { error = e.message; };
  wait_until([&] { return refused.readyState() == ws::WebSocket::CLOSED; });
  CHECK(error.find("403") != std::string::npos);
  CHECK(seen.size() == 1);
}

TEST_CASE("headers the handshake owns, bad names and line breaks throw "
          "SyntaxError") {
  const std::string url = "ws://127.0.0.1:1/";
  using H = std::vector<std::pair<std::string, std::string>>;
  for (const H &bad :
       {H{{"Host", "x"}}, H{{"upgrade", "h2c"}}, H{{"Connection", "close"}},
        H{{"Sec-WebSocket-Key", "x"}}, H{{"sec-websocket-protocol", "chat"}},
        H{{"Sec-WebSocket-Extensions", "permessage-deflate"}},
        H{{"Origin", "https://a"}}, H{{"", "x"}}, H{{"Bad Name", "x"}},
        H{{"X-Ok", "a\r\nX-Injected: 1"}}, H{{"X-Ok", "a\nb"}}}) {
    ws::ClientOptions options;
    options.headers = bad;
    CHECK(thrown_name<ws::SyntaxError>(
              [&] { ws::WebSocket s(url, {}, options); }) == "SyntaxError");
  }
  ws::ClientOptions injected;
  injected.origin = "https://a\r\nX: 1";
  CHECK(thrown_name<ws::SyntaxError>(
            [&] { ws::WebSocket s(url, {}, injected); }) == "SyntaxError");
  ws::ClientOptions fine;
  fine.headers = {{"User-Agent", "mine/1.0"}, {"X-Trace", ""}};
  CHECK_NOTHROW(ws::WebSocket(url, {}, fine));
}
