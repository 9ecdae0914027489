// HTTP CONNECT proxies: ws:// and wss:// through a real tinyproxy (Debian's),
// with and without basic authentication, its refusals, the environment's
// proxy settings as curl reads them, and proxies that answer with nonsense.
// SPDX-License-Identifier: MIT
#include "support.hpp"
#if WS_TLS
#include "tls_certs.hpp"
#endif

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace std::chrono_literals;
using test::wait_until;

namespace {

/// tinyproxy on a free loopback port, with `extra` lines of configuration;
/// stopped (SIGTERM) when destroyed.
struct Tinyproxy {
  std::string port = test::free_port();
  std::unique_ptr<test::Process> process;
  std::string log; // what it printed, once stopped

  explicit Tinyproxy(const std::string &extra = "") {
    const std::string conf = std::filesystem::temp_directory_path() /
                             ("ws-tinyproxy-" + port + ".conf");
    std::ofstream(conf) << "Port " << port << "\nListen 127.0.0.1\n"
                        << "Allow 127.0.0.1\nTimeout 30\nMaxClients 20\n"
                        << "LogLevel Info\n"
                        << extra;
    process = std::make_unique<test::Process>(
        std::vector<std::string>{test::env("TINYPROXY"), "-d", "-c", conf});
    // Ready when it says so (it writes its log line by line).
    while (process->read_line().find("Accepting connections") ==
           std::string::npos) {
    }
    std::filesystem::remove(conf);
  }
  std::string url(const std::string &userinfo = "") const {
    return "http://" + (userinfo.empty() ? "" : userinfo + "@") +
           "127.0.0.1:" + port;
  }
  /// Stops it and returns its log (tinyproxy writes it when it exits).
  const std::string &stop() {
    process->signal(SIGTERM);
    log = process->read_rest();
    process->wait();
    return log;
  }
};

/// Opens `url` with `options`, echoes a text and a binary message, closes,
/// and returns what happened.
test::Recorder echo_through(const std::string &url,
                            const ws::ClientOptions &options) {
  ws::WebSocket socket(url, {}, options);
  test::Recorder r;
  r.attach(socket);
  wait_until([&] { return socket.readyState() != ws::WebSocket::CONNECTING; });
  if (socket.readyState() == ws::WebSocket::OPEN) {
    socket.send("through the proxy");
    socket.send(ws::Binary{0, 1, 255});
    wait_until([&] { return r.messages.size() == 2; });
    socket.close(1000);
  }
  wait_until([&] { return r.closed(); });
  return r;
}

void require_echoed(const test::Recorder &r) {
  INFO((r.errors.empty() ? "" : r.errors[0]));
  REQUIRE(r.messages.size() == 2);
  CHECK(r.messages[0].data == "through the proxy");
  CHECK(r.messages[1].binary() == ws::Binary{0, 1, 255});
  CHECK(r.closes[0].wasClean);
}

/// error (naming `reason`), then close 1006.
void require_failed(const test::Recorder &r, const std::string &reason) {
  REQUIRE(r.events == std::vector<std::string>{"error", "close"});
  INFO(r.errors[0]);
  CHECK(r.errors[0].find(reason) != std::string::npos);
  CHECK(r.closes[0].code == 1006);
}

ws::ClientOptions via(const std::string &proxy) {
  ws::ClientOptions o;
  o.proxy = proxy;
  return o;
}

std::string authority_of(const test::EchoServer &echo) {
  return "127.0.0.1:" + std::to_string(echo.server.port());
}

/// Sets an environment variable for one test (the test's thread only reads
/// it, in the WebSocket constructor).
struct Env {
  std::string name;
  Env(const std::string &n, const std::string &value) : name(n) {
    setenv(n.c_str(), value.c_str(), 1);
  }
  ~Env() { unsetenv(name.c_str()); }
};

} // namespace

TEST_CASE("ws:// through tinyproxy: a CONNECT tunnel, then the handshake") {
  Tinyproxy proxy;
  test::EchoServer echo;
  require_echoed(echo_through(echo.url(), via(proxy.url())));
  // No scheme means http://, as in curl.
  require_echoed(echo_through(echo.url(), via("127.0.0.1:" + proxy.port)));
  const std::string &log = proxy.stop();
  INFO(log);
  CHECK(log.find("CONNECT " + authority_of(echo) + " HTTP/1.1") !=
        std::string::npos);
}

TEST_CASE("wscat --proxy") {
  Tinyproxy proxy;
  test::EchoServer echo;
  test::LoopThread loop;
  test::Process wscat({test::env("WSCAT"), echo.url(), "--proxy", proxy.url()});
  CHECK(wscat.read_line() == "open -");
  wscat.write_line("via tinyproxy");
  CHECK(wscat.read_line() == "message text via tinyproxy");
  wscat.close_stdin();
  CHECK(wscat.read_line() == "close 1000 true ");
  CHECK(wscat.wait() == 0);
  CHECK(proxy.stop().find("CONNECT " + authority_of(echo)) !=
        std::string::npos);
}

TEST_CASE("basic authentication: refused without or with wrong credentials") {
  Tinyproxy proxy("BasicAuth ann s3cret\n");
  test::EchoServer echo;
  // tinyproxy 1.11 answers a CONNECT without credentials with 401 (squid
  // with 407): either way, the proxy's own words.
  const std::string refused = "WebSocket connection to '" + echo.url() +
                              "' failed: the proxy " + proxy.url() +
                              " refused the tunnel: 40";
  require_failed(echo_through(echo.url(), via(proxy.url())), refused);
  require_failed(echo_through(echo.url(), via(proxy.url("ann:nope"))), refused);
  // Credentials are percent-decoded, as in a URL.
  require_echoed(echo_through(echo.url(), via(proxy.url("ann:s3cr%65t"))));
}

TEST_CASE("a proxy that refuses the destination: its 403, and no retry") {
  Tinyproxy proxy("ConnectPort 443\n"); // our port is not 443
  test::EchoServer echo;
  ws::ClientOptions o = via(proxy.url());
  o.reconnect.enabled = true; // a refusal will not heal
  int lapses = 0;
  ws::WebSocket socket(echo.url(), {}, o);
  test::Recorder r;
  r.attach(socket);
  socket.onreconnecting = [&](const ws::ReconnectingEvent &) { ++lapses; };
  wait_until([&] { return r.closed(); });
  require_failed(r, "refused the tunnel: 403");
  CHECK(lapses == 0);
}

TEST_CASE("the environment's proxy, as curl reads it, when asked") {
  Tinyproxy proxy;
  test::EchoServer echo;
  ws::ClientOptions from_env;
  from_env.proxyFromEnvironment = true;
  const std::string nobody = "http://127.0.0.1:" + test::free_port();
  {
    Env http("http_proxy", proxy.url());
    require_echoed(echo_through(echo.url(), from_env));
    // Not asked: straight to the server.
    Env all("ALL_PROXY", nobody);
    require_echoed(echo_through(echo.url(), ws::ClientOptions()));
  }
  {
    // curl reads HTTP_PROXY in lower case only; ALL_PROXY is the fallback.
    Env upper("HTTP_PROXY", nobody);
    Env all("ALL_PROXY", proxy.url());
    require_echoed(echo_through(echo.url(), from_env));
    // NO_PROXY: this host goes straight, though the proxy is dead.
    Env dead("http_proxy", nobody);
    for (const std::string list :
         {"127.0.0.1", "example.com, 127.0.0.1", "*"}) {
      Env no("NO_PROXY", list);
      require_echoed(echo_through(echo.url(), from_env));
    }
    Env other("no_proxy", "example.com");
    require_failed(echo_through(echo.url(), from_env),
                   "the proxy " + nobody + " could not be reached");
  }
  const std::string &log = proxy.stop();
  // Exactly the two connections that were to use it.
  std::size_t tunnels = 0;
  for (auto at = log.find("CONNECT " + authority_of(echo));
       at != std::string::npos;
       at = log.find("CONNECT " + authority_of(echo), at + 1))
    ++tunnels;
  CHECK(tunnels == 2);
}

TEST_CASE("NO_PROXY matching: names with their subdomains, addresses exactly") {
  using ws::detail::no_proxy_for;
  CHECK(no_proxy_for("example.com", "example.com"));
  CHECK(no_proxy_for("chat.example.com", "example.com"));
  CHECK(no_proxy_for("chat.example.com", ".example.com"));
  CHECK_FALSE(no_proxy_for("badexample.com", "example.com"));
  CHECK_FALSE(no_proxy_for("example.com", "chat.example.com"));
  CHECK(no_proxy_for("localhost", " other , LOCALHOST "));
  CHECK(no_proxy_for("[::1]", "::1"));
  CHECK(no_proxy_for("[::1]", "[::1]"));
  CHECK_FALSE(no_proxy_for("127.0.0.2", "127.0.0.1"));
  CHECK(no_proxy_for("anything", "*"));
  CHECK_FALSE(no_proxy_for("anything", ""));
}

TEST_CASE("proxy URLs: bad ones throw, ports default as in curl") {
  const auto target = ws::detail::parse_websocket_url("ws://example.com/");
  auto route = [&](const std::string &proxy) {
    return ws::detail::proxy_route(target, via(proxy));
  };
  CHECK(route("http://proxy.example")->address == "http://proxy.example:1080");
  CHECK(route("http://proxy.example:80")->address == "http://proxy.example:80");
  CHECK(route("proxy.example:3128")->address == "http://proxy.example:3128");
  CHECK(route("http://proxy.example:3128")->tunnel.authority ==
        "example.com:80");
  CHECK(route("http://u%3Ax:p@proxy.example:1")->tunnel.authorization ==
        "Basic " + websocketpp::base64_encode("u:x:p"));
  CHECK(route("") == nullptr);
  CHECK_THROWS_AS(route("https://proxy.example:3128"), ws::NotSupportedError);
  CHECK_THROWS_AS(route("socks5://proxy.example:1080"), ws::NotSupportedError);
  CHECK_THROWS_AS(route("http://proxy.example:99999"), ws::SyntaxError);
  CHECK_THROWS_AS(ws::WebSocket("ws://example.com/", {}, via("http://[::1")),
                  ws::SyntaxError);
}

TEST_CASE("a proxy that answers with nonsense, too much, late or not at all: "
          "error naming it, close 1006, never a crash") {
  test::EchoServer echo;
  struct Case {
    std::string answer;
    bool hang_up; // close TCP after the answer
    std::string reason;
  };
  const std::string endless =
      "HTTP/1.1 200 OK\r\nX: " + std::string(20000, 'a');
  for (const Case &c :
       {Case{"garbage\r\n\r\n", true, "sent a malformed answer: garbage"},
        Case{"HTTP/1.1 2000 OK\r\n\r\n", true, "malformed answer"},
        Case{"HTTP/1.1 200\r\n\r\nextra", true, "sent bytes after its answer"},
        Case{endless, false, "without an end to its headers"},
        Case{"HTTP/1.1 200 OK\r\n", true, "closed the connection"},
        Case{"", false, "Proxy tunnel timed out after 300 ms"},
        Case{"HTTP/1.1 502 Bad Gateway\r\n\r\n", true,
             "refused the tunnel: 502 Bad Gateway"}}) {
    INFO(c.reason);
    test::ScriptedServer proxy([&](const std::string &) { return c.answer; });
    proxy.then_close = c.hang_up;
    proxy.hold_open = !c.hang_up;
    ws::ClientOptions o =
        via("http://127.0.0.1:" +
            std::to_string(proxy.acceptor.local_endpoint().port()));
    o.handshakeTimeout = 300ms;
    const test::Recorder r = echo_through(echo.url(), o);
    require_failed(r, c.reason);
    CHECK(proxy.request.rfind("CONNECT " + authority_of(echo) +
                                  " HTTP/1.1\r\n"
                                  "Host: " +
                                  authority_of(echo) + "\r\n",
                              0) == 0);
  }
}

#if WS_TLS
TEST_CASE("wss:// through tinyproxy: TLS end to end, the certificate still "
          "checked") {
  static test::TestCa ca;
  ws::ServerOptions so;
  so.certFile = ca.server;
  so.keyFile = ca.key;
  ws::Server server(so);
  server.onconnection = [](ws::WebSocket &socket, const ws::Request &) {
    socket.onmessage = [&socket](const ws::MessageEvent &e) {
      socket.send(e.data, {e.isBinary});
    };
  };
  server.listen(0, "127.0.0.1");
  const std::string port = std::to_string(server.port());
  Tinyproxy proxy;
  ws::ClientOptions o = via(proxy.url());
  o.caFile = ca.ca;
  require_echoed(echo_through("wss://localhost:" + port + "/", o));
  // Through the tunnel the server is still the one checked: not trusted
  // without the CA.
  require_failed(
      echo_through("wss://localhost:" + port + "/", via(proxy.url())),
      "TLS certificate verification failed");
  const std::string &log = proxy.stop();
  CHECK(log.find("CONNECT localhost:" + port) != std::string::npos);
}
#endif
