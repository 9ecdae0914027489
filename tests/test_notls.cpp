// A build of ws without TLS and zlib (WS_TLS=0 and WS_DEFLATE=0, as with
// meson -Dws_tls=disabled -Dws_deflate=disabled): ws:// works, wss:// says
// plainly that TLS was not built in, and nothing is compressed.
// SPDX-License-Identifier: MIT
#include "support.hpp"

static_assert(WS_TLS == 0, "this test must be built without TLS");
static_assert(WS_DEFLATE == 0, "this test must be built without zlib");

using namespace test;

TEST_CASE("without TLS, ws:// works and wss:// throws NotSupportedError") {
  EchoServer echo;
  ws::WebSocket plain(echo.url());
  wait_until([&] { return plain.readyState() == ws::WebSocket::OPEN; });
  try {
    ws::WebSocket secure("wss://localhost/");
    FAIL("wss:// did not throw");
  } catch (const ws::NotSupportedError &e) {
    CHECK(std::string(e.what()).find("TLS, which was not built into ws") !=
          std::string::npos);
  }
  ws::ServerOptions options;
  options.certFile = "cert.pem";
  options.keyFile = "key.pem";
  CHECK_THROWS_AS(ws::Server(options), ws::NotSupportedError);
}

TEST_CASE("without zlib, a client offers no compression and a server cannot "
          "turn it on") {
  test::ScriptedServer peer([](const std::string &) { return ""; });
  peer.then_close = false;
  peer.respond = [&](const std::string &) { return peer.upgrade(); };
  ws::WebSocket socket(peer.url()); // perMessageDeflate is on by default
  wait_until([&] { return socket.readyState() == ws::WebSocket::OPEN; });
  CHECK(peer.request.find("Sec-WebSocket-Extensions") == std::string::npos);
  ws::ServerOptions options;
  options.perMessageDeflate.enabled = true;
  try {
    ws::Server server(options);
    FAIL("a server with perMessageDeflate was made without zlib");
  } catch (const std::invalid_argument &e) {
    CHECK(std::string(e.what()).find("without zlib") != std::string::npos);
  }
}
