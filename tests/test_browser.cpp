// A real browser: Debian's headless Chromium runs our chat page and talks to
// ws::Server, driven by tests/interop/browser.js. Run through
// tests/interop/run.sh, which skips it without node or chromium.
// SPDX-License-Identifier: MIT
#include "raw_client.hpp"
#if WS_TLS
#include "tls_certs.hpp"
#endif

#include <cstdlib>

namespace {

std::string browser_js() { return test::env("INTEROP_DIR") + "/browser.js"; }

} // namespace

TEST_CASE("two Chromium tabs and a chat_client chat through chat_server") {
  // And again with compression, which the tabs and chat_client offer.
  const bool deflate = GENERATE(false, true);
  INFO((deflate ? "--deflate" : "without --deflate"));
  std::vector<std::string> argv = {test::env("CHAT_SERVER"), "--port", "0",
                                   "--host", "127.0.0.1"};
  if (deflate)
    argv.push_back("--deflate");
  test::Process server(argv);
  const std::string line = server.read_line();
  const std::string port = test::port_in(line);
  test::Process browser({"/usr/bin/env", "node", browser_js(), "chat", port});
  CHECK(browser.read_line(std::chrono::seconds(60)) ==
        "ok every participant saw the greeting and every line of its room, in "
        "order");
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

TEST_CASE("Chromium and our server agree on permessage-deflate") {
  ws::ServerOptions options;
  options.perMessageDeflate.enabled = true;
  ws::Server server(options);
  server.onrequest = [](const ws::Request &, ws::Response &res) {
    res.setHeader("Content-Type", "text/html");
    res.body = R"(<!DOCTYPE html><script>
window.result = new Promise((resolve) => {
  const socket = new WebSocket("ws://" + location.host + "/");
  socket.binaryType = "arraybuffer";
  const text = "ann: lunch at noon? ".repeat(50000); // 1 MB that compresses
  const bytes = crypto.getRandomValues(new Uint8Array(65536)); // and not
  const got = [];
  socket.onopen = () => { socket.send(text); socket.send(bytes); socket.send("hi"); };
  socket.onmessage = (e) => {
    got.push(e.data);
    if (got.length < 3) return;
    const back = new Uint8Array(got[1]);
    resolve({ extensions: socket.extensions, text: got[0] === text,
              bytes: back.length === bytes.length &&
                     back.every((b, i) => b === bytes[i]),
              small: got[2] });
  };
});
</script>)";
  };
  std::string offered, agreed;
  server.verifyClient = [&](const ws::Request &req) {
    offered = req.headers.at("Sec-WebSocket-Extensions");
    return true;
  };
  server.onconnection = [&](ws::WebSocket &socket, const ws::Request &) {
    agreed = socket.extensions();
    socket.onmessage = [&socket](const ws::MessageEvent &e) {
      socket.send(e.data, {e.isBinary});
    };
  };
  server.listen(0, "127.0.0.1");
  test::Process browser(
      {"/usr/bin/env", "node", browser_js(), "eval",
       "http://127.0.0.1:" + std::to_string(server.port()) + "/",
       "window.result"});
  {
    test::LoopThread loop;
    CHECK(browser.read_line(std::chrono::seconds(60)) ==
          R"({"extensions":"permessage-deflate; server_no_context_takeover",)"
          R"("text":true,"bytes":true,"small":"hi"})");
    CHECK(browser.wait(std::chrono::seconds(30)) == 0);
  }
  CHECK(offered == "permessage-deflate; client_max_window_bits");
  CHECK(agreed == "permessage-deflate; server_no_context_takeover");
}

TEST_CASE("Chromium and ws::WebSocket report a server's misbehaviour alike") {
  // The page comes from a ws::Server; its socket goes to a server scripted
  // by hand (tests/raw_client.hpp), and so does one of ours.
  struct Case {
    const char *what;
    std::string script;
    const char *events; // the page's, and ours
  };
  using namespace test::opcode;
  const std::vector<Case> cases = {
      {"TCP dropped after a message", test::frame(TEXT, "hi", true, 0, false),
       "open,message hi,close 1006 false"},
      {"TCP dropped inside a frame",
       test::frame(TEXT, "hi", true, 0, false) +
           test::frame(TEXT, "cut short", true, 0, false).substr(0, 5),
       "open,message hi,close 1006 false"},
      {"a close frame with code 1005",
       test::frame(CLOSE, test::close_payload(1005), true, 0, false),
       "open,error,close 1006 false"},
      {"a close frame with a one-byte body",
       test::frame(CLOSE, std::string(1, '\x03'), true, 0, false),
       "open,error,close 1006 false"},
      {"a valid close frame",
       test::frame(CLOSE, test::close_payload(4000, "bye"), true, 0, false),
       "open,close 4000 true"},
  };
  for (const auto &c : cases) {
    INFO(c.what);
    const bool drop = std::string(c.what).rfind("TCP", 0) == 0;
    test::MisbehavingServer for_page(c.script, drop);
    ws::Server pages;
    pages.onrequest = [&](const ws::Request &, ws::Response &res) {
      res.setHeader("Content-Type", "text/html");
      res.body = R"(<!DOCTYPE html><script>
window.result = new Promise((resolve) => {
  const events = [];
  const socket = new WebSocket(")" +
                 for_page.url() + R"(");
  socket.onopen = () => events.push("open");
  socket.onmessage = (e) => events.push("message " + e.data);
  socket.onerror = () => events.push("error");
  socket.onclose = (e) => {
    events.push(`close ${e.code} ${e.wasClean}`);
    resolve(events.join(","));
  };
});
</script>)";
    };
    pages.listen(0, "127.0.0.1");
    std::string seen;
    {
      test::Process browser(
          {"/usr/bin/env", "node", browser_js(), "eval",
           "http://127.0.0.1:" + std::to_string(pages.port()) + "/",
           "window.result"});
      test::LoopThread loop;
      seen = browser.read_line(std::chrono::seconds(60));
      CHECK(browser.wait(std::chrono::seconds(30)) == 0);
    }
    CHECK(seen == "\"" + std::string(c.events) + "\"");

    test::MisbehavingServer for_us(c.script, drop);
    ws::WebSocket socket(for_us.url());
    std::vector<std::string> ours;
    socket.onopen = [&](const ws::Event &) { ours.push_back("open"); };
    socket.onmessage = [&](const ws::MessageEvent &e) {
      ours.push_back("message " + e.data);
    };
    socket.onerror = [&](const ws::ErrorEvent &) { ours.push_back("error"); };
    socket.onclose = [&](const ws::CloseEvent &e) {
      ours.push_back("close " + std::to_string(e.code) +
                     (e.wasClean ? " true" : " false"));
    };
    test::wait_until(
        [&] { return socket.readyState() == ws::WebSocket::CLOSED; });
    std::string joined;
    for (const auto &e : ours)
      joined += (joined.empty() ? "" : ",") + e;
    CHECK(joined == c.events);
  }
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
        "ok every participant saw the greeting and every line of its room, in "
        "order");
  CHECK(browser.wait(std::chrono::seconds(30)) == 0);
  server.signal(SIGTERM);
  CHECK(server.wait() == 0);
}
#endif
