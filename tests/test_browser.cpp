// A real browser: Debian's headless Chromium runs our chat page and talks to
// ws::Server, driven by tests/interop/browser.js. Run through
// tests/interop/run.sh, which skips it without node or chromium.
// SPDX-License-Identifier: MIT
#include "raw_client.hpp"
#if WS_TLS
#include "tls_certs.hpp"
#endif

#include <cstdlib>
#include <functional>
#include <optional>

namespace {

std::string browser_js() { return test::env("INTEROP_DIR") + "/browser.js"; }

} // namespace

// No comma in the name: Catch reads one in a test spec as "or".
TEST_CASE("two Chromium tabs chat with a chat_client and wscat through "
          "chat_server") {
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

TEST_CASE("Chromium's WebSocketStream and our server push back both ways") {
  // The page asks for 512 x 64 KiB (32 MiB) and reads none of it until our
  // producer stops (GET /queued no longer moves), then all of it; then it
  // writes as many while our socket is paused, and once its writes stop
  // finishing has the socket resumed (GET /resume). With backpressure, our
  // producer (send while bufferedAmount is under 2 MiB, go on at
  // bufferedamountlow) stalls while the page does not read, and the page's
  // writes stall while we do not. Measured here: our producer stopped at 64
  // to 96 of the 512 (4-6 MiB in the kernels' buffers), the page's writes at
  // 61 (Chromium 156).
  constexpr int count = 512;
  constexpr std::size_t size = 65536;
  ws::Server server;
  std::optional<ws::WebSocket> peer;
  int queued = 0, queued_at_reading = -1, received = 0;
  std::uint64_t buffered_at_reading = 0;
  bool in_order = true;
  const auto numbered = [](int i, std::size_t n) {
    ws::Binary b(n);
    for (int k = 0; k < 4; ++k)
      b[std::size_t(k)] = std::uint8_t(std::uint32_t(i) >> (24 - 8 * k));
    return b;
  };
  const std::function<void()> produce = [&] {
    while (queued < count && peer->bufferedAmount() < 2u << 20)
      peer->send(numbered(queued++, size));
  };
  server.onrequest = [&](const ws::Request &req, ws::Response &res) {
    if (req.path == "/resume") {
      peer->resume();
      res.status = 204;
      return;
    }
    if (req.path == "/queued") {
      res.body = std::to_string(queued);
      return;
    }
    res.setHeader("Content-Type", "text/html");
    res.body = R"(<!DOCTYPE html><script>
const count = 512, size = 65536;
// Polls a count until it stops moving (the same in 5 looks 50 ms apart:
// something pushed back) or reaches `count` (nothing did); fails at 20 s.
const settled = async (get) => {
  let last = -1, same = 0;
  for (const deadline = Date.now() + 20000; Date.now() < deadline;) {
    const now = await get();
    same = now === last ? same + 1 : 0;
    if (now === count || same === 5) return now;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the count never settled");
};
const numbered = (i) => {
  const bytes = new Uint8Array(size);
  new DataView(bytes.buffer).setUint32(0, i);
  return bytes;
};
window.result = (async () => {
  const wss = new WebSocketStream("ws://" + location.host + "/");
  const { readable, writable } = await wss.opened;
  const reader = readable.getReader();
  const writer = writable.getWriter();
  await writer.write("flood");
  // Reading nothing until our producer stops (or has sent everything).
  await settled(async () => Number(await (await fetch("/queued")).text()));
  await writer.write("reading");
  let inOrder = true;
  for (let i = 0; i < count; ++i) {
    const { value, done } = await reader.read();
    if (done) return "closed while reading";
    // An ArrayBuffer in Chromium 156; a Uint8Array in today's spec draft.
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : value;
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    inOrder &&= bytes.length === size && view.getUint32(0) === i;
  }
  await writer.write("pause");
  let written = 0;
  const writes = [];
  for (let i = 0; i < count; ++i)
    writes.push(writer.write(numbered(i)).then(() => ++written));
  const writtenWhilePaused = await settled(async () => written);
  await fetch("/resume");
  await Promise.all(writes);
  await writer.write("count");
  const { value } = await reader.read();
  wss.close({ closeCode: 1000, reason: "done" });
  const { closeCode } = await wss.closed;
  return { inOrder, writtenWhilePaused, written, server: value, closeCode };
})();
</script>)";
  };
  server.onconnection = [&](ws::WebSocket &socket, const ws::Request &) {
    peer = socket;
    socket.setBufferedAmountLowThreshold(1u << 20);
    socket.onbufferedamountlow = [&](const ws::Event &) { produce(); };
    socket.onmessage = [&](const ws::MessageEvent &e) {
      if (e.isBinary) {
        const auto b = e.binary();
        in_order =
            in_order && b.size() == size && b == numbered(received, size);
        ++received;
      } else if (e.data == "flood") {
        produce();
      } else if (e.data == "reading") {
        queued_at_reading = queued;
        buffered_at_reading = peer->bufferedAmount();
      } else if (e.data == "pause") {
        peer->pause();
      } else if (e.data == "count") {
        peer->send(std::to_string(received) +
                   (in_order ? " in order" : " out of order"));
      }
    };
  };
  server.listen(0, "127.0.0.1");
  test::Process browser(
      {"/usr/bin/env", "node", browser_js(), "eval",
       "http://127.0.0.1:" + std::to_string(server.port()) + "/",
       "window.result"});
  std::string result;
  {
    test::LoopThread loop;
    result = browser.read_line(std::chrono::seconds(60));
    CHECK(browser.wait(std::chrono::seconds(30)) == 0);
  }
  INFO(result);
  INFO("queued when the page began to read: "
       << queued_at_reading << " of " << count << ", " << buffered_at_reading
       << " bytes buffered");
  // What the page saw: everything, in order, and writes that waited.
  const std::string head = R"({"inOrder":true,"writtenWhilePaused":)";
  REQUIRE(result.rfind(head, 0) == 0);
  const int written_while_paused = std::stoi(result.substr(head.size()));
  CHECK(written_while_paused < count / 2);
  CHECK(result.substr(result.find(",\"written\":")) ==
        R"(,"written":512,"server":"512 in order","closeCode":1000})");
  // What we saw: a producer held back by a reader that did not read.
  CHECK(queued_at_reading >= 0);
  CHECK(queued_at_reading < count / 2);
  CHECK(buffered_at_reading > 0);
}
