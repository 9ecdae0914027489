// A build of ws without TLS (WS_TLS=0, as with meson -Dtls=disabled): ws://
// works, and wss:// says plainly that TLS was not built in.
// SPDX-License-Identifier: MIT
#include "support.hpp"

static_assert(WS_TLS == 0, "this test must be built without TLS");

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
