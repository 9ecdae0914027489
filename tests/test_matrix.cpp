// The 2x2 chat matrix: {C++, JS} chat client x {C++, JS} chat server, each
// pair exchanging lines both ways, then Chromium's page against both
// servers; and every JavaScript block of the READMEs, run. The JS twins live in
// examples/js/; Node's `ws` comes from tests/interop (run through
// tests/interop/run.sh, which installs it). SPDX-License-Identifier: MIT
#include "support.hpp"

#include <fstream>
#include <memory>
#include <sstream>

using namespace std::chrono_literals;

namespace {

std::string node_path() {
  return "NODE_PATH=" + test::env("INTEROP_DIR") + "/node_modules";
}

std::string js(const std::string &name) {
  return test::env("EXAMPLES_JS") + "/" + name;
}

std::unique_ptr<test::Process>
start_server(const std::string &kind,
             const std::vector<std::string> &flags = {}) {
  std::vector<std::string> argv =
      kind == "C++" ? std::vector<std::string>{test::env("CHAT_SERVER")}
                    : std::vector<std::string>{"/usr/bin/env", node_path(),
                                               "node", js("chat_server.js")};
  argv.insert(argv.end(), {"--port", "0", "--host", "127.0.0.1"});
  argv.insert(argv.end(), flags.begin(), flags.end());
  return std::make_unique<test::Process>(argv);
}

std::unique_ptr<test::Process>
start_client(const std::string &kind, const std::string &url,
             const std::string &nick,
             const std::vector<std::string> &flags = {}) {
  std::vector<std::string> argv =
      kind == "C++" ? std::vector<std::string>{test::env("CHAT_CLIENT")}
                    : std::vector<std::string>{"/usr/bin/env", node_path(),
                                               "node", js("chat_client.js")};
  argv.insert(argv.end(), {url, "--nick", nick});
  argv.insert(argv.end(), flags.begin(), flags.end());
  return std::make_unique<test::Process>(argv);
}

} // namespace

TEST_CASE("every chat client talks through every chat server") {
  for (const std::string server_kind : {"C++", "JS"}) {
    auto server = start_server(server_kind);
    const std::string line = server->read_line();
    REQUIRE(line.rfind("chat_server listening on http://127.0.0.1:", 0) == 0);
    const std::string port = test::port_in(line);
    const std::string url = "ws://127.0.0.1:" + port + "/";

    // The page at /, 404 elsewhere: the same from both.
    CHECK(test::http_get(std::stoi(port), "/").find("new WebSocket(") !=
          std::string::npos);
    CHECK(test::http_get(std::stoi(port), "/nope").rfind("HTTP/1.1 404", 0) ==
          0);

    for (const std::string a_kind : {"C++", "JS"})
      for (const std::string b_kind : {"C++", "JS"}) {
        INFO(a_kind << " and " << b_kind << " clients, " << server_kind
                    << " server");
        auto ann = start_client(a_kind, url, "ann");
        CHECK(ann->read_line() == "Welcome to the chat room.");
        auto bob = start_client(b_kind, url, "bob");
        CHECK(bob->read_line() == "Welcome to the chat room.");
        ann->write_line("hello from " + a_kind);
        CHECK(ann->read_line() == "ann: hello from " + a_kind);
        CHECK(bob->read_line() == "ann: hello from " + a_kind);
        bob->write_line("hi from " + b_kind);
        CHECK(bob->read_line() == "bob: hi from " + b_kind);
        CHECK(ann->read_line() == "bob: hi from " + b_kind);
        // The end of input closes with 1000: both exit 0.
        ann->close_stdin();
        CHECK(ann->wait() == 0);
        bob->close_stdin();
        CHECK(bob->wait() == 0);
      }

    server->signal(SIGTERM);
    CHECK(server->wait() == 0);
  }
}

TEST_CASE("chat_client --reconnect, both kinds: kill and restart the server "
          "and the chat goes on") {
  auto server = start_server("C++");
  const std::string port = test::port_in(server->read_line());
  const std::string url = "ws://127.0.0.1:" + port + "/";
  auto ann = start_client("C++", url, "ann", {"--reconnect"});
  auto bob = start_client("JS", url, "bob", {"--reconnect"});
  CHECK(ann->read_line() == "Welcome to the chat room.");
  CHECK(bob->read_line() == "Welcome to the chat room.");

  server->signal(SIGKILL); // no close frame: the connections just drop
  server->wait();
  // Typed while away: sent once the socket is open again.
  ann->write_line("are you there?");
  server = start_server("C++", {"--port", port});
  CHECK(server->read_line() ==
        "chat_server listening on http://127.0.0.1:" + port + "/");
  CHECK(ann->read_line(20s) == "Welcome to the chat room.");
  CHECK(bob->read_line(20s) == "Welcome to the chat room.");
  // ann's line may go before bob is back; this one goes after both are.
  bob->write_line("back");
  for (auto *client : {ann.get(), bob.get()}) {
    std::string line = client->read_line();
    if (line == "ann: are you there?")
      line = client->read_line();
    CHECK(line == "bob: back");
  }
  ann->close_stdin();
  CHECK(ann->wait() == 0);
  bob->close_stdin();
  CHECK(bob->wait() == 0);
  server->signal(SIGTERM);
  CHECK(server->wait() == 0);
}

TEST_CASE("--origin: both servers refuse pages of other origins with 403") {
  for (const std::string kind : {"C++", "JS"}) {
    INFO(kind << " server");
    auto server = start_server(kind, {"--origin", "http://chat.example,"
                                                  "https://Other.Example"});
    const auto port = static_cast<std::uint16_t>(
        std::stoi(test::port_in(server->read_line())));
    CHECK(test::upgrade_status(port, "Origin: http://evil.example\r\n")
              .rfind("HTTP/1.1 403", 0) == 0);
    CHECK(test::upgrade_status(port, "Origin: http://chat.example\r\n")
              .rfind("HTTP/1.1 101", 0) == 0);
    CHECK(test::upgrade_status(port, "Origin: https://other.example\r\n")
              .rfind("HTTP/1.1 101", 0) == 0);
    // chat_client sends no Origin (it is no page): it chats as before.
    auto ann = start_client(
        "C++", "ws://127.0.0.1:" + std::to_string(port) + "/", "ann");
    CHECK(ann->read_line() == "Welcome to the chat room.");
    server->signal(SIGTERM);
    CHECK(server->wait() == 0);
  }
}

TEST_CASE("Chromium's page chats through both servers") {
  for (const std::string server_kind : {"C++", "JS"}) {
    INFO(server_kind << " server");
    auto server = start_server(server_kind);
    const std::string line = server->read_line();
    const std::string port = test::port_in(line);
    test::Process browser({"/usr/bin/env", "node",
                           test::env("INTEROP_DIR") + "/browser.js", "chat",
                           port});
    CHECK(
        browser.read_line(std::chrono::seconds(60)) ==
        "ok every participant saw the greeting and every line of its room, in "
        "order");
    CHECK(browser.wait(std::chrono::seconds(30)) == 0);
    server->signal(SIGTERM);
    CHECK(server->wait() == 0);
  }
}

namespace {

/// Runs a README's JavaScript block under Node, with "8000" replaced by
/// `port` and `ws` standing in for the browser's WebSocket.
std::unique_ptr<test::Process> run_js_block(const std::string &block,
                                            const std::string &port) {
  std::string code = block;
  for (auto at = code.find("8000"); at != std::string::npos;
       at = code.find("8000", at))
    code.replace(at, 4, port);
  const std::string prelude =
      "const WebSocket = globalThis.WebSocket ?? require('ws');\n"
      "const { WebSocketServer } = require('ws');\n";
  return std::make_unique<test::Process>(std::vector<std::string>{
      "/usr/bin/env", node_path(), "node", "-e", prelude + code});
}

} // namespace

TEST_CASE("every JavaScript block of the READMEs runs and does its job") {
  std::vector<std::string> blocks;
  for (const auto &page : test::markdown_files(test::env("SOURCE_ROOT")))
    for (const auto &b :
         test::markdown_blocks(test::env("SOURCE_ROOT") + "/" + page, "js"))
      blocks.push_back(b);
  REQUIRE(blocks.size() >= 2);
  for (const auto &block : blocks) {
    INFO(block);
    if (block.find("new WebSocketServer(") != std::string::npos) {
      // A server: our client connects (retrying until Node listens), is
      // greeted, and has its line relayed back.
      const std::string port = test::free_port();
      auto node = run_js_block(block, port);
      std::unique_ptr<ws::WebSocket> client;
      test::Recorder r;
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (!client || client->readyState() != ws::WebSocket::OPEN) {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        client =
            std::make_unique<ws::WebSocket>("ws://127.0.0.1:" + port + "/");
        r = test::Recorder();
        r.attach(*client);
        test::wait_until([&] { return !r.events.empty(); });
      }
      test::wait_until([&] { return r.messages.size() == 1; });
      CHECK(r.messages[0].data == "Welcome to the chat room.");
      client->send("relayed?");
      test::wait_until([&] { return r.messages.size() == 2; });
      CHECK(r.messages[1].data == "relayed?");
    } else {
      // A client: it talks to our echo_server and prints what comes back.
      // The server listens as README's block 1 starts chat_server, with no
      // --host: every address, IPv6 and IPv4, so the block's localhost
      // reaches it whichever address Node tries (Node 18 tries only ::1).
      test::Process echo({test::env("ECHO_SERVER"), "--port", "0"});
      const std::string line = echo.read_line();
      const std::string port = test::port_in(line);
      auto node = run_js_block(block, port);
      CHECK(node->read_line() == "Hello, server!");
    }
  }
}

namespace {

/// `lines` as a JSON array of strings (what browser.js prints for one).
std::string json_strings(const std::vector<std::string> &lines) {
  std::string json = "[";
  for (const auto &line : lines) {
    json += json.size() > 1 ? ",\"" : "\"";
    for (char c : line)
      json += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
    json += "\"";
  }
  return json + "]";
}

/// What examples/js/stream_client.js logs and resolves to, run in Chromium
/// on a page of the server's origin: chat(url, lines) with console.log and
/// console.error collected, then "exit STATUS".
std::string stream_twin_in_chromium(const std::string &page,
                                    const std::string &url,
                                    const std::vector<std::string> &lines) {
  std::ifstream file(js("stream_client.js"));
  std::stringstream twin;
  twin << file.rdbuf();
  const std::string expression =
      "(async () => { const out = [];\n"
      "console.log = console.error = (s) => out.push(String(s));\n" +
      twin.str() + "\nconst status = await chat(\"" + url + "\", " +
      json_strings(lines) + ");\nreturn [...out, \"exit \" + status]; })()";
  test::Process browser({"/usr/bin/env", "node",
                         test::env("INTEROP_DIR") + "/browser.js", "eval", page,
                         expression});
  const std::string result = browser.read_line(60s);
  CHECK(browser.wait(30s) == 0);
  return result;
}

} // namespace

TEST_CASE("stream_client and its JS twin in Chromium say the same through "
          "both servers") {
  const std::vector<std::string> lines = {"hello from a stream", "bye"};
  for (const std::string server_kind : {"C++", "JS"}) {
    INFO(server_kind << " server");
    auto server = start_server(server_kind);
    const std::string port = test::port_in(server->read_line());
    const std::string url = "ws://127.0.0.1:" + port + "/";
    std::vector<std::string> argv = {test::env("STREAM_CLIENT"), url};
    argv.insert(argv.end(), lines.begin(), lines.end());
    test::Process cpp(argv);
    const std::string said = cpp.read_rest();
    CHECK(cpp.wait() == 0);
    CHECK(said == "Welcome to the chat room.\nhello from a stream\nbye\n"
                  "closed 1000 done\n");
    // The page: the server's 404, of its origin, with no chat of its own.
    CHECK(stream_twin_in_chromium("http://127.0.0.1:" + port + "/nope", url,
                                  lines) ==
          json_strings({"Welcome to the chat room.", "hello from a stream",
                        "bye", "closed 1000 done", "exit 0"}));
    server->signal(SIGTERM);
    CHECK(server->wait() == 0);
  }
  // No server there: both report the failure and give 1.
  const std::string nobody = "ws://127.0.0.1:" + test::free_port() + "/";
  test::Process cpp({test::env("STREAM_CLIENT"), nobody, "anyone?"});
  CHECK(cpp.read_rest().empty());
  CHECK(cpp.wait() == 1);
  ws::Server page_server;
  page_server.onrequest = [](const ws::Request &, ws::Response &res) {
    res.body = "<!DOCTYPE html>";
  };
  page_server.listen(0, "127.0.0.1");
  test::LoopThread loop;
  const std::string result = stream_twin_in_chromium(
      "http://127.0.0.1:" + std::to_string(page_server.port()) + "/", nobody,
      {"anyone?"});
  INFO(result);
  const std::string end = ",\"exit 1\"]";
  CHECK(result.rfind("[\"stream_client: ", 0) == 0);
  CHECK(result.size() > end.size());
  CHECK(result.substr(result.size() - end.size()) == end);
}
