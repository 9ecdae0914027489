// A real browser: Debian's headless Chromium runs our chat page and talks to
// ws::Server, driven by tests/interop/browser.js. Run through
// tests/interop/run.sh, which skips it without node or chromium.
// SPDX-License-Identifier: MIT
#include "support.hpp"
#if WS_TLS
#include "tls_certs.hpp"
#endif

#include <cstdlib>

namespace {

std::string browser_js() { return test::env("INTEROP_DIR") + "/browser.js"; }

} // namespace

TEST_CASE("two Chromium tabs and a chat_client chat through chat_server") {
  test::Process server(
      {test::env("CHAT_SERVER"), "--port", "0", "--host", "127.0.0.1"});
  const std::string line = server.read_line();
  const std::string port = test::port_in(line);
  test::Process browser({"/usr/bin/env", "node", browser_js(), "chat", port});
  CHECK(browser.read_line(std::chrono::seconds(60)) ==
        "ok every participant saw the greeting and every line, in order");
  CHECK(browser.wait(std::chrono::seconds(30)) == 0);
  server.signal(SIGTERM);
  CHECK(server.wait() == 0);
}

TEST_CASE("a page sees the subprotocol our server chose and its close") {
  ws::Server server;
  server.handleProtocols = [](const std::vector<std::string> &offered,
                              const ws::Request &) {
    // The second one offered, so the choice is visibly ours.
    return offered.size() > 1 ? offered[1] : "";
  };
  server.onrequest = [](const ws::Request &, ws::Response &res) {
    res.setHeader("Content-Type", "text/html");
    res.body = R"(<!DOCTYPE html><script>
window.result = new Promise((resolve) => {
  const socket = new WebSocket("ws://" + location.host + "/",
                               ["chat.v2", "chat.v1"]);
  socket.onopen = () => socket.send("close me");
  socket.onclose = (e) => resolve({ protocol: socket.protocol, code: e.code,
                                    reason: e.reason, wasClean: e.wasClean });
});
</script>)";
  };
  server.onconnection = [](ws::WebSocket &socket, const ws::Request &) {
    socket.onmessage = [&socket](const ws::MessageEvent &e) {
      if (e.data == "close me")
        socket.close(4321, "bye from C++");
    };
  };
  server.listen(0, "127.0.0.1");
  test::Process browser(
      {"/usr/bin/env", "node", browser_js(), "eval",
       "http://127.0.0.1:" + std::to_string(server.port()) + "/",
       "window.result"});
  test::LoopThread loop;
  CHECK(browser.read_line(std::chrono::seconds(60)) ==
        R"({"protocol":"chat.v1","code":4321,"reason":"bye from C++",)"
        R"("wasClean":true})");
  CHECK(browser.wait(std::chrono::seconds(30)) == 0);
}

#if WS_TLS
TEST_CASE("Chromium loads the chat page over https and chats over wss") {
  test::TestCa ca;
  test::Process server({test::env("CHAT_SERVER"), "--port", "0", "--host",
                        "127.0.0.1", "--cert", ca.server, "--key", ca.key});
  const std::string line = server.read_line();
  REQUIRE(line.find("listening on https://") != std::string::npos);
  const std::string port = test::port_in(line);
  test::Process browser({"/usr/bin/env", "CHAT_CA=" + ca.ca, "node",
                         browser_js(), "chat", port, "https"});
  CHECK(browser.read_line(std::chrono::seconds(60)) ==
        "ok every participant saw the greeting and every line, in order");
  CHECK(browser.wait(std::chrono::seconds(30)) == 0);
  server.signal(SIGTERM);
  CHECK(server.wait() == 0);
}
#endif
