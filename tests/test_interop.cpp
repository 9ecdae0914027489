// Interop with software we did not write: Node's ws package, both ways.
// Run through tests/interop/run.sh, which installs it (or skips).
// SPDX-License-Identifier: MIT
#include "support.hpp"
#if WS_TLS
#include "tls_certs.hpp"
#endif

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>

using test::wait_until;

namespace {

std::string node_script(const std::string &name) {
  return test::env("INTEROP_DIR") + "/" + name;
}

std::uint16_t port_from(test::Process &p) {
  std::string line = p.read_line();
  INFO(line);
  REQUIRE(line.find("listening") != std::string::npos);
  return static_cast<std::uint16_t>(
      std::stoi(line.substr(line.find_last_of(" :") + 1)));
}

/// Node's output, line by line, until it exits; then its exit status.
int run_node_client(test::Process &node, std::vector<std::string> &lines) {
  for (;;) {
    std::string line = node.read_line(std::chrono::seconds(30));
    lines.push_back(line);
    if (line.rfind("FAIL", 0) == 0 || line.rfind("ok close", 0) == 0)
      break;
  }
  return node.wait();
}

/// Runs client.js in echo mode to its end and checks its report.
void check_node_echo(test::Process &node) {
  std::vector<std::string> lines;
  const int status = run_node_client(node, lines);
  INFO(lines.back());
  CHECK(status == 0);
  CHECK(lines == std::vector<std::string>{
                     "ok subprotocol", "ok text and binary echoes up to 1 MiB",
                     "ok close 4000 echoed"});
}

} // namespace

// Catch 2.13's console reporter aborts on some long names: keep them short.
TEST_CASE("a paused server socket pushes back on Node's ws flooding it") {
  ws::Server server;
  std::atomic<int> next{0}, out_of_order{0};
  std::atomic<bool> slow{true};
  std::atomic<long> baseline{0}, most{0};
  std::optional<ws::WebSocket> reader;
  server.onconnection = [&](ws::WebSocket &socket, const ws::Request &) {
    reader = socket;
    baseline = test::resident_kib();
    socket.onmessage = [&](const ws::MessageEvent &e) {
      const int n = std::stoi(e.data.substr(0, e.data.find(':')));
      if (n != next++ || e.data.size() != 1024)
        ++out_of_order;
      if (!slow)
        return;
      reader->pause();
      ws::setTimeout([&] { reader->resume(); }, 10);
      most = std::max(most.load(), test::resident_kib());
    };
  };
  server.listen(0, "127.0.0.1");
  test::Process node({"/usr/bin/env", "node", node_script("flood.js"),
                      test::local_url(server), "10"});
  int sent = 0, read_slowly = 0;
  long node_buffered = 0;
  {
    test::LoopThread loop;
    const std::string buffered = node.read_line(30s);
    INFO(buffered);
    REQUIRE(buffered.rfind("buffered ", 0) == 0);
    node_buffered = std::stol(buffered.substr(9));
    const std::string line = node.read_line();
    REQUIRE(line.rfind("sent ", 0) == 0);
    sent = std::stoi(line.substr(5));
  }
  // The loop is back on this thread: read the rest at full speed.
  read_slowly = next;
  slow = false;
  reader->resume();
  wait_until([&] { return next == sent; }, 60s);
  server.close();
  wait_until([&] { return reader->readyState() == ws::WebSocket::CLOSED; });
  CHECK(node.read_line() == "close 1001");
  CHECK(node.wait() == 0);
  const long grew = most - baseline;
  INFO("Node sent " << sent << " messages; we read " << read_slowly
                    << " in the slow phase; Node's bufferedAmount reached "
                    << node_buffered << " bytes; our RSS grew by " << grew
                    << " KiB");
  CHECK(next == sent);
  CHECK(out_of_order == 0);
  CHECK(read_slowly <= 1100); // one per 10 ms for 10 s, and no more
  CHECK(read_slowly >= 500);
  CHECK(node_buffered >= 4 << 20); // TCP pushed back: Node had to wait
  if (!test::rss_means_nothing)
    CHECK(grew < 2048);
  std::cout << "slow reader (event API, pause/resume): Node sent " << sent
            << " KiB, its bufferedAmount reached " << node_buffered / 1024
            << " KiB, our RSS grew " << grew << " KiB\n";
}

TEST_CASE("our client against Node's ws echo server") {
  test::Process node({"/usr/bin/env", "node", node_script("echo_server.js")});
  const auto port = port_from(node);
  const std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/";

  ws::WebSocket socket(url, {"chat.v2", "chat.v1"});
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return socket.readyState() == ws::WebSocket::OPEN; });
  CHECK(socket.protocol() == "chat.v2"); // Node chose the first offered

  std::vector<std::string> sent;
  for (std::size_t size : {0u, 125u, 126u, 65536u, 1u << 20}) {
    socket.send(std::string(size, 't'));
    socket.send(ws::Binary(size, 0xa5));
  }
  wait_until([&] { return r.messages.size() == 10; });
  for (std::size_t i = 0; i < 10; i += 2) {
    CHECK(!r.messages[i].isBinary);
    CHECK(r.messages[i].data == std::string(r.messages[i].data.size(), 't'));
    CHECK(r.messages[i + 1].isBinary);
    CHECK(r.messages[i + 1].data.size() == r.messages[i].data.size());
  }
  CHECK(r.messages[8].data.size() == (1u << 20));

  // Our code and reason reach Node; Node's reach us.
  socket.close(4000, "bye from C++");
  wait_until([&] { return r.closed(); });
  CHECK(r.closes[0].code == 4000);
  CHECK(r.closes[0].wasClean);
  CHECK(node.read_line() == "close 4000 bye from C++");

  ws::WebSocket second(url);
  test::Recorder r2;
  r2.attach(second);
  second.onopen = [&](const ws::Event &) {
    second.send("close 4002 node says bye");
  };
  wait_until([&] { return r2.closed(); });
  CHECK(r2.closes[0].code == 4002);
  CHECK(r2.closes[0].reason == "node says bye");
  CHECK(r2.closes[0].wasClean);
  CHECK(second.protocol().empty());
}

TEST_CASE("Node's ws client against our echo_server") {
  test::Process server({test::env("ECHO_SERVER"), "--port", "0", "--host",
                        "127.0.0.1", "--accept-protocols"});
  const auto port = port_from(server);
  test::Process node({"/usr/bin/env", "node", node_script("client.js"),
                      "ws://127.0.0.1:" + std::to_string(port) + "/", "echo"});
  check_node_echo(node);
}

TEST_CASE("our client against Node's ws with permessage-deflate") {
  // Node's defaults: context takeover both ways, a 1 KiB threshold.
  setenv("DEFLATE", "1", 1);
  test::Process node({"/usr/bin/env", "node", node_script("echo_server.js")});
  unsetenv("DEFLATE");
  const auto port = port_from(node);
  ws::WebSocket socket("ws://127.0.0.1:" + std::to_string(port) + "/");
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return socket.readyState() == ws::WebSocket::OPEN; });
  CHECK(socket.extensions() == "permessage-deflate");
  std::vector<std::string> sent;
  std::mt19937 random(7);
  for (std::size_t size : {0u, 1023u, 1024u, 65536u, 1u << 20}) {
    std::string text;
    while (text.size() < size)
      text += "bob: see you at noon, by the fountain. ";
    text.resize(size);
    std::string bytes(size, '\0');
    for (auto &c : bytes)
      c = static_cast<char>(random());
    sent.push_back(text);
    sent.push_back(bytes);
    socket.send(text);
    socket.send(bytes, {true});
  }
  wait_until([&] { return r.messages.size() == sent.size(); });
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    CHECK(r.messages[i].isBinary == (i % 2 == 1));
    CHECK(r.messages[i].data == sent[i]);
    total += sent[i].size();
  }
  socket.close(1000);
  wait_until([&] { return r.closed(); });
  // Node read the text compressed: less than the random half and a bit.
  const std::string read = node.read_line();
  INFO(read << " of " << total);
  REQUIRE(read.rfind("read ", 0) == 0);
  CHECK(std::stoull(read.substr(5)) < total * 6 / 10);
  CHECK(node.read_line() == "close 1000 ");
}

TEST_CASE("Node's ws client against our echo_server --deflate") {
  test::Process server({test::env("ECHO_SERVER"), "--port", "0", "--host",
                        "127.0.0.1", "--deflate"});
  const auto port = port_from(server);
  test::Process node({"/usr/bin/env", "node", node_script("client.js"),
                      "ws://127.0.0.1:" + std::to_string(port) + "/",
                      "deflate"});
  std::vector<std::string> lines;
  const int status = run_node_client(node, lines);
  INFO(lines.back());
  CHECK(status == 0);
  CHECK(lines == std::vector<std::string>{
                     "ok extensions permessage-deflate; "
                     "server_no_context_takeover",
                     "ok text and binary echoes up to 1 MiB",
                     "ok the text came compressed", "ok close 1000"});
}

TEST_CASE("Node's ws client against our chat_server") {
  test::Process server(
      {test::env("CHAT_SERVER"), "--port", "0", "--host", "127.0.0.1"});
  const auto port = port_from(server);
  test::Process node({"/usr/bin/env", "node", node_script("client.js"),
                      "ws://127.0.0.1:" + std::to_string(port) + "/", "chat"});
  CHECK(node.read_line() == "ok greeting");
  CHECK(node.read_line() == "ok broadcast");
  CHECK(node.read_line() == "ready");
  server.signal(SIGTERM);
  CHECK(node.read_line() == "ok close 1001 from the server");
  CHECK(node.wait() == 0);
  CHECK(server.wait() == 0);
}

#if WS_TLS
TEST_CASE("Node's ws client over wss:// against our echo_server") {
  test::TestCa ca;
  test::Process server({test::env("ECHO_SERVER"), "--port", "0", "--host",
                        "127.0.0.1", "--accept-protocols", "--cert", ca.server,
                        "--key", ca.key});
  const auto port = port_from(server);
  // Node trusts the test CA the documented way, and checks the address
  // against the certificate's IP name. The client names the address the
  // server listens on: Node 18 tries only the first of localhost's two
  // (::1), where nothing listens.
  test::Process node({"/usr/bin/env", "NODE_EXTRA_CA_CERTS=" + ca.ca, "node",
                      node_script("client.js"),
                      "wss://127.0.0.1:" + std::to_string(port) + "/", "echo"});
  check_node_echo(node);
}

TEST_CASE("our client over wss:// against Node's ws on https") {
  test::TestCa ca;
  test::Process node({"/usr/bin/env", "TLS_CERT=" + ca.server,
                      "TLS_KEY=" + ca.key, "node",
                      node_script("echo_server.js")});
  const auto port = port_from(node);
  ws::ClientOptions options;
  options.caFile = ca.ca;
  ws::WebSocket socket("wss://localhost:" + std::to_string(port) + "/",
                       {"chat.v1"}, options);
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return socket.readyState() == ws::WebSocket::OPEN; });
  CHECK(socket.protocol() == "chat.v1");
  socket.send(std::string(1 << 20, 's'));
  socket.send(ws::Binary{1, 2, 3});
  wait_until([&] { return r.messages.size() == 2; });
  CHECK(r.messages[0].data == std::string(1 << 20, 's'));
  CHECK(r.messages[1].binary() == ws::Binary{1, 2, 3});
  socket.close(4000, "bye over TLS");
  wait_until([&] { return r.closed(); });
  CHECK(r.closes[0].code == 4000);
  CHECK(r.closes[0].wasClean);
  CHECK(node.read_line() == "close 4000 bye over TLS");

  // Without the CA, Node's certificate is refused, as a browser would.
  ws::WebSocket untrusted("wss://localhost:" + std::to_string(port) + "/");
  test::Recorder r2;
  r2.attach(untrusted);
  wait_until([&] { return r2.closed(); });
  CHECK(r2.events == std::vector<std::string>{"error", "close"});
  CHECK(r2.closes[0].code == 1006);
}
#endif
