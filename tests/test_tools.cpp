// The tools as programs: wscat (including --echo against servers that
// misbehave) and echo_server, their output, signals and exit codes.
// SPDX-License-Identifier: MIT
#include "support.hpp"
#if WS_TLS
#include "tls_certs.hpp"
#endif

#include <atomic>
#include <cstdlib>
#include <thread>

namespace {

std::uint16_t listening_port(test::Process &server) {
  std::string line = server.read_line();
  REQUIRE(line.find("listening on") != std::string::npos);
  return static_cast<std::uint16_t>(
      std::stoi(line.substr(line.rfind(':') + 1)));
}

} // namespace

TEST_CASE("wscat sends typed lines and prints what comes back") {
  test::Process server({test::env("ECHO_SERVER"), "--port", "0", "--host",
                        "127.0.0.1", "--accept-protocols"});
  const auto port = listening_port(server);
  const std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/";

  test::Process plain({test::env("WSCAT"), url});
  CHECK(plain.read_line() == "open -");
  plain.write_line("hello");
  CHECK(plain.read_line() == "message text hello");
  plain.close_stdin();
  CHECK(plain.read_line() == "close 1000 true ");
  CHECK(plain.wait() == 0);

  test::Process chosen(
      {test::env("WSCAT"), url, "--protocol", "chat.v2", "--protocol", "v1"});
  CHECK(chosen.read_line() == "open chat.v2");
  // SIGTERM: echo_server closes every socket with 1001 and exits 0.
  server.signal(SIGTERM);
  CHECK(chosen.read_line() == "close 1001 true ");
  CHECK(chosen.wait() == 0);
  CHECK(server.wait() == 0);
}

TEST_CASE("wscat --echo sends every message back unchanged") {
  ws::Server server;
  std::vector<ws::MessageEvent> echoed;
  server.onconnection = [&](ws::WebSocket &s, const ws::Request &) {
    s.send("two\nlines");
    s.send(ws::Binary{0, 1, 255});
    s.onmessage = [&](const ws::MessageEvent &e) {
      echoed.push_back(e);
      if (echoed.size() == 2)
        s.close(4000, "bye");
    };
  };
  server.listen(0, "127.0.0.1");
  test::Process wscat({test::env("WSCAT"), test::local_url(server), "--echo"});
  {
    test::LoopThread loop;
    CHECK(wscat.read_line() == "open -");
    CHECK(wscat.read_line() == "message text two\\nlines");
    CHECK(wscat.read_line() == "message binary 0001ff");
    CHECK(wscat.read_line() == "close 4000 true bye");
    CHECK(wscat.wait() == 0);
  }
  REQUIRE(echoed.size() == 2);
  CHECK(echoed[0].data == "two\nlines");
  CHECK(!echoed[0].isBinary);
  CHECK(echoed[1].binary() == ws::Binary{0, 1, 255});
  CHECK(echoed[1].isBinary);
}

TEST_CASE("wscat --echo against servers that misbehave: error, close 1006") {
  auto frames = [](std::initializer_list<int> b) {
    std::string s;
    for (int c : b)
      s += static_cast<char>(c);
    return s;
  };
  struct Case {
    const char *what;
    std::string after_upgrade; // frames after a correct 101
    std::string instead;       // or a whole answer instead of the 101
    std::vector<std::string> flags;
  };
  const std::vector<Case> cases = {
      {"masked frame", frames({0x81, 0x81, 1, 2, 3, 4, 'a' ^ 1}), "", {}},
      {"invalid UTF-8", frames({0x81, 0x01, 0xFF}), "", {}},
      {"reserved bit", frames({0xC1, 0x01, 'a'}), "", {}},
      {"bad close code", frames({0x88, 0x02, 0x03, 0xED}), "", {}},
      {"wrong Sec-WebSocket-Accept",
       "",
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n",
       {}},
      {"404", "", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", {}},
      {"500", "", "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", {}},
      {"subprotocol not offered", "", "", {"--protocol", "chat"}},
  };
  for (const auto &c : cases) {
    INFO(c.what);
    test::ScriptedServer peer([](const std::string &) { return ""; });
    peer.then_close = !c.instead.empty();
    peer.respond = [&](const std::string &) {
      if (!c.instead.empty())
        return c.instead;
      if (!c.flags.empty()) // answers a protocol nobody offered
        return peer.upgrade("Sec-WebSocket-Protocol: other\r\n");
      return peer.upgrade() + c.after_upgrade;
    };
    std::vector<std::string> argv = {test::env("WSCAT"), peer.url(), "--echo"};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    test::Process wscat(argv);
    test::LoopThread loop;
    std::string line = wscat.read_line();
    if (line.rfind("open", 0) == 0)
      line = wscat.read_line();
    CHECK(line.rfind("error ", 0) == 0);
    CHECK(wscat.read_line() == "close 1006 false ");
    CHECK(wscat.wait() == 1);
  }
}

TEST_CASE("wscat --echo: a server that drops TCP gives close 1006, no error") {
  test::ScriptedServer peer([](const std::string &) { return ""; });
  peer.respond = [&](const std::string &) { return peer.upgrade(); };
  test::Process wscat({test::env("WSCAT"), peer.url(), "--echo"});
  test::LoopThread loop;
  CHECK(wscat.read_line() == "open -");
  CHECK(wscat.read_line() == "close 1006 false ");
  CHECK(wscat.wait() == 1);
}

TEST_CASE("wscat and echo_server check their flags") {
  CHECK(test::Process({test::env("WSCAT")}).wait() == 2);
  CHECK(test::Process({test::env("WSCAT"), "ftp://x/"}).wait() == 2);
  CHECK(test::Process({test::env("WSCAT"), "ws://x/", "--bogus"}).wait() == 2);
  for (const std::vector<std::string> &bad :
       {std::vector<std::string>{"-l", "http"},
        {"-l", "70000"},
        {"-l", "0", "ws://x/"},
        {"ws://x/", "-H", "no colon"},
        {"ws://x/", "-H", "bad name: v"},
        {"ws://x/", "-w", "soon"},
        {"ws://x/", "--proxy", "socks5://p:1"},
        {"ws://x/", "--cert", "c"}}) {
    std::vector<std::string> argv{test::env("WSCAT")};
    argv.insert(argv.end(), bad.begin(), bad.end());
    INFO(argv[1] << " " << argv[2]);
    CHECK(test::Process(argv).wait() == 2);
  }
  test::Process help({test::env("WSCAT"), "--help"});
  CHECK(help.read_line().rfind("usage: wscat", 0) == 0);
  CHECK(help.wait() == 0);
  CHECK(test::Process({test::env("ECHO_SERVER"), "--port", "-1"}).wait() == 2);
  CHECK(test::Process({test::env("ECHO_SERVER"), "--bogus"}).wait() == 2);

  test::Process first(
      {test::env("ECHO_SERVER"), "--port", "0", "--host", "127.0.0.1"});
  const auto port = listening_port(first);
  CHECK(test::Process({test::env("ECHO_SERVER"), "--port", std::to_string(port),
                       "--host", "127.0.0.1"})
            .wait() == 1);
  first.signal(SIGINT);
  CHECK(first.wait() == 0);
}

TEST_CASE("wscat -l PORT and wscat -c URL talk to each other") {
  test::Process listener({test::env("WSCAT"), "-l", "0", "-s", "chat"});
  const std::string line = listener.read_line();
  REQUIRE(line.rfind("listening ws://127.0.0.1:", 0) == 0);
  const std::string url = line.substr(std::string("listening ").size());
  test::Process client(
      {test::env("WSCAT"), "-c", url, "-s", "other", "-s", "chat"});
  CHECK(client.read_line() == "open chat");
  CHECK(listener.read_line() == "open chat");
  client.write_line("hi");
  CHECK(listener.read_line() == "message text hi");
  listener.write_line("hello back");
  CHECK(client.read_line() == "message text hello back");
  // One connection: another is turned away while it lasts.
  test::Process second({test::env("WSCAT"), url});
  CHECK(second.read_line().find("Unexpected response code: 503") !=
        std::string::npos);
  CHECK(second.wait() == 1);
  client.close_stdin();
  CHECK(client.read_line() == "close 1000 true ");
  CHECK(listener.read_line() == "close 1000 true ");
  CHECK(client.wait() == 0);
  CHECK(listener.wait() == 0); // the connection's end is the server's
}

TEST_CASE("wscat -H and -o reach the server; -P shows pings; -v shows the "
          "handshake on stderr") {
  ws::ServerOptions options;
  options.pingInterval = 50ms;
  ws::Server server(options);
  server.onconnection = [](ws::WebSocket &s, const ws::Request &req) {
    s.send(req.header("Authorization") + "|" + req.header("X-Empty") + "|" +
           req.header("Origin"));
  };
  server.listen(0, "127.0.0.1");
  const std::string url = test::local_url(server);
  test::LoopThread loop; // the server runs while this thread drives wscat
  {
    test::Process wscat({test::env("WSCAT"), url, "-H",
                         "Authorization: Bearer t0k3n", "--header",
                         "X-Empty:", "-o", "http://me.example", "-P"});
    CHECK(wscat.read_line() == "open -");
    CHECK(wscat.read_line() == "message text Bearer t0k3n||http://me.example");
    CHECK(wscat.read_line() == "ping ");
    wscat.close_stdin();
  }
  // -v: stderr, here joined to stdout, gets both heads before open.
  test::Process verbose({test::env("WSCAT"), url, "-v"}, test::Stderr::joined);
  CHECK(verbose.read_line() == "GET / HTTP/1.1\r");
  std::string line;
  while ((line = verbose.read_line()).rfind("HTTP/1.1 ", 0) != 0)
    ;
  CHECK(line == "HTTP/1.1 101 Switching Protocols\r");
  while ((line = verbose.read_line()) != "\r")
    ;
  CHECK(verbose.read_line() == "open -");
  verbose.close_stdin();
}

TEST_CASE("wscat -w waits for answers after the end of input") {
  test::Process server(
      {test::env("ECHO_SERVER"), "--port", "0", "--host", "127.0.0.1"});
  const auto port = listening_port(server);
  test::Process wscat({test::env("WSCAT"),
                       "ws://127.0.0.1:" + std::to_string(port) + "/", "-w",
                       "1"});
  CHECK(wscat.read_line() == "open -");
  wscat.write_line("last words");
  wscat.close_stdin();
  CHECK(wscat.read_line() == "message text last words");
  CHECK(wscat.read_line() == "close 1000 true ");
  CHECK(wscat.wait() == 0);
}

TEST_CASE("wscat --reconnect comes back when the server does") {
  auto server = std::make_unique<test::Process>(std::vector<std::string>{
      test::env("ECHO_SERVER"), "--port", "0", "--host", "127.0.0.1"});
  const std::string port = std::to_string(listening_port(*server));
  test::Process wscat(
      {test::env("WSCAT"), "ws://127.0.0.1:" + port + "/", "--reconnect"});
  CHECK(wscat.read_line() == "open -");
  server->signal(SIGTERM); // closes with 1001
  CHECK(server->wait() == 0);
  CHECK(wscat.read_line().rfind("reconnecting 1001 1 ", 0) == 0);
  server = std::make_unique<test::Process>(std::vector<std::string>{
      test::env("ECHO_SERVER"), "--port", port, "--host", "127.0.0.1"});
  for (std::string line; (line = wscat.read_line(20s)) != "open -";)
    CHECK((line.rfind("error ", 0) == 0 ||
           line.rfind("reconnecting 1006 ", 0) == 0));
  wscat.write_line("again");
  CHECK(wscat.read_line() == "message text again");
  wscat.close_stdin();
  CHECK(wscat.read_line() == "close 1000 true ");
  CHECK(wscat.wait() == 0);
}

TEST_CASE("wscat exits 1 when the connection is refused") {
  std::uint16_t port;
  {
    asio::io_context ctx;
    asio::ip::tcp::acceptor a(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  const std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/";
  test::Process wscat({test::env("WSCAT"), url});
  // It says where it was going, as Chromium's console does.
  CHECK(wscat.read_line() == "error WebSocket connection to '" + url +
                                 "' failed: Connection refused");
  CHECK(wscat.read_line() == "close 1006 false ");
  CHECK(wscat.wait() == 1);
}

TEST_CASE("every tool has --version, and a usage error exits 2") {
  for (const char *tool :
       {"ECHO_SERVER", "CHAT_SERVER", "CHAT_CLIENT", "WSCAT"}) {
    const std::string path = test::env(tool);
    test::Process version({path, "--version"});
    std::string name = path.substr(path.rfind('/') + 1);
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".exe") == 0)
      name.resize(name.size() - 4); // a Windows tool names itself without it
    CHECK(version.read_line() == name + " " + ws::version);
    CHECK(version.wait() == 0);
    CHECK(test::Process({path, "--bogus"}).wait() == 2);
  }
  // Not the library's field names and exit 1: the tool's flags, exit 2.
  for (const char *tool : {"ECHO_SERVER", "CHAT_SERVER"}) {
    CHECK(test::Process({test::env(tool), "--cert", "c.pem"}).wait() == 2);
    CHECK(test::Process({test::env(tool), "--key", "k.pem"}).wait() == 2);
  }
  CHECK(test::Process({test::env("CHAT_SERVER"), "--redis", "http://x/"})
            .wait() == 2);
  CHECK(test::Process(
            {test::env("CHAT_SERVER"), "--redis", "redis://127.0.0.1:notaport"})
            .wait() == 2);
}

TEST_CASE("the Server and User-Agent headers name this library") {
  test::Process server(
      {test::env("ECHO_SERVER"), "--port", "0", "--host", "127.0.0.1"});
  const auto port = listening_port(server);
  asio::io_context ctx;
  asio::ip::tcp::socket http(ctx);
  http.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(http, asio::buffer(std::string(
                        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")));
  std::string answer;
  asio::error_code ec;
  asio::read_until(http, asio::dynamic_buffer(answer), "\r\n\r\n", ec);
  INFO(answer);
  CHECK(answer.find("\r\nServer: ws/" + std::string(ws::version) + "\r\n") !=
        std::string::npos);
  server.signal(SIGTERM);
  CHECK(server.wait() == 0);

  ws::Server ours;
  std::string agent;
  ours.onconnection = [&](ws::WebSocket &s, const ws::Request &req) {
    agent = req.header("User-Agent");
    s.close();
  };
  ours.listen(0, "127.0.0.1");
  ws::WebSocket client("ws://127.0.0.1:" + std::to_string(ours.port()) + "/");
  REQUIRE(ws::runUntil([&] { return !agent.empty(); }, 10s));
  CHECK(agent == "ws/" + std::string(ws::version));
}

#if WS_TLS
// [tls]: the tools must have been built with TLS as well as this test
// (tests/run.sh leaves these out for the Windows tools, built without).
TEST_CASE("wscat and echo_server over wss://, with --ca and --no-check",
          "[tls]") {
  test::TestCa ca;
  test::Process server({test::env("ECHO_SERVER"), "--port", "0", "--host",
                        "127.0.0.1", "--cert", ca.server, "--key", ca.key});
  const std::string line = server.read_line();
  CHECK(line.find("listening on wss://127.0.0.1:") != std::string::npos);
  const std::string url = "wss://localhost:" + test::port_in(line) + "/";

  test::Process trusted({test::env("WSCAT"), url, "--ca", ca.ca});
  CHECK(trusted.read_line() == "open -");
  trusted.write_line("over TLS");
  CHECK(trusted.read_line() == "message text over TLS");
  trusted.close_stdin();
  CHECK(trusted.read_line() == "close 1000 true ");
  CHECK(trusted.wait() == 0);

  test::Process untrusted({test::env("WSCAT"), url});
  CHECK(untrusted.read_line() ==
        "error WebSocket connection to '" + url +
            "' failed: TLS certificate verification failed: unable to get "
            "local issuer certificate");
  CHECK(untrusted.read_line() == "close 1006 false ");
  CHECK(untrusted.wait() == 1);

  test::Process unchecked({test::env("WSCAT"), url, "--no-check"});
  CHECK(unchecked.read_line() == "open -");
  unchecked.close_stdin();
  CHECK(unchecked.read_line() == "close 1000 true ");
  CHECK(unchecked.wait() == 0);

  // A CA file that is not there: one clear line, exit 2.
  test::Process bad({test::env("WSCAT"), url, "--ca", "/nonexistent.pem"});
  CHECK(bad.wait() == 2);

  server.signal(SIGTERM);
  CHECK(server.wait() == 0);
}

TEST_CASE("wscat to a ws:// server with wss:// says so at once", "[tls]") {
  test::Process server(
      {test::env("ECHO_SERVER"), "--port", "0", "--host", "127.0.0.1"});
  const auto port = listening_port(server);
  test::Process wscat(
      {test::env("WSCAT"), "wss://127.0.0.1:" + std::to_string(port) + "/"});
  // Well inside the 10 s handshake timeout it used to wait for.
  const std::string line = wscat.read_line(3s);
  INFO(line);
  CHECK(line.find("without speaking TLS (is it a ws:// server?)") !=
        std::string::npos);
  CHECK(wscat.read_line() == "close 1006 false ");
  CHECK(wscat.wait() == 1);
  server.signal(SIGTERM);
  CHECK(server.wait() == 0);
}

TEST_CASE("chat_server --cert with a bad file: one line and exit 1", "[tls]") {
  test::Process server({test::env("CHAT_SERVER"), "--port", "0", "--cert",
                        "/nonexistent.pem", "--key", "/nonexistent.key"});
  CHECK(server.wait() == 1);
}
#endif
