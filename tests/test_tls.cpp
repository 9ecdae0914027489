// wss:// and https: both roles over TLS with a CA made at test time, the
// certificate checks a browser makes, and the server's TLS settings.
// SPDX-License-Identifier: MIT
#include "support.hpp"
#include "tls_certs.hpp"

#include <asio/ssl.hpp>

using namespace test;
using ws::WebSocket;

namespace {

const TestCa &certs() {
  static TestCa ca;
  return ca;
}

ws::ServerOptions tls_options(const std::string &cert) {
  ws::ServerOptions o;
  o.certFile = cert;
  o.keyFile = certs().key;
  return o;
}

ws::ClientOptions trusting_ca() {
  ws::ClientOptions o;
  o.caFile = certs().ca;
  return o;
}

/// An echo server over TLS on 127.0.0.1.
struct TlsEcho {
  ws::Server server;
  std::vector<std::string> protocols_seen;
  explicit TlsEcho(const ws::ServerOptions &options) : server(options) {
    server.handleProtocols = [](const std::vector<std::string> &offered,
                                const ws::Request &) { return offered[0]; };
    server.onconnection = [](WebSocket &socket, const ws::Request &) {
      socket.onmessage = [&socket](const ws::MessageEvent &e) {
        socket.send(e.data, {e.isBinary});
      };
    };
    server.onrequest = [](const ws::Request &req, ws::Response &res) {
      res.body = "secure page at " + req.path;
    };
    server.listen(0, "127.0.0.1");
  }
  std::string url(const std::string &host = "localhost") const {
    return "wss://" + host + ":" + std::to_string(server.port()) + "/";
  }
};

/// Connects and waits for the first close; returns what was recorded.
Recorder connect(const std::string &url,
                 const ws::ClientOptions &options = trusting_ca()) {
  WebSocket socket(url, {}, options);
  Recorder r;
  r.attach(socket);
  wait_until([&] { return r.closed() || !r.events.empty(); });
  if (socket.readyState() == WebSocket::OPEN) {
    socket.close();
    wait_until([&] { return r.closed(); });
  }
  return r;
}

/// A failed handshake: error (whose message contains `reason`), then close
/// 1006 not clean, and never open.
void require_failure(const Recorder &r, const std::string &reason) {
  REQUIRE(r.events == std::vector<std::string>{"error", "close"});
  INFO(r.errors[0]);
  CHECK(r.errors[0].find(reason) != std::string::npos);
  CHECK(r.closes[0].code == 1006);
  CHECK_FALSE(r.closes[0].wasClean);
}

/// A blocking https GET on a thread of its own (the server runs on this
/// one's loop); returns the response, or "error: ..." if TLS failed.
std::string https_get(std::uint16_t port, asio::ssl::context &ctx) {
  std::string result;
  bool done = false;
  std::thread t([&] {
    try {
      asio::io_context io;
      asio::ssl::stream<asio::ip::tcp::socket> s(io, ctx);
      s.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), port});
      s.handshake(asio::ssl::stream_base::client);
      const std::string req = "GET /page HTTP/1.1\r\nHost: localhost\r\n"
                              "Connection: close\r\n\r\n";
      asio::write(s, asio::buffer(req));
      asio::error_code ec;
      char buf[4096];
      for (;;) {
        std::size_t n = s.read_some(asio::buffer(buf), ec);
        result.append(buf, n);
        if (ec)
          break;
      }
    } catch (const std::exception &e) {
      result = std::string("error: ") + e.what();
    }
    // Posted: runUntil looks at its condition when the loop wakes.
    ws::post([&] { done = true; });
  });
  const bool finished = ws::runUntil([&] { return done; }, 10s);
  t.join();
  REQUIRE(finished);
  return result;
}

} // namespace

TEST_CASE("wss:// echoes text and binary with the test CA trusted") {
  TlsEcho echo(tls_options(certs().server));
  CHECK(echo.server.secure());
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    INFO(host);
    WebSocket socket(echo.url(host), {"chat"}, trusting_ca());
    Recorder r;
    r.attach(socket);
    wait_until([&] { return socket.readyState() != WebSocket::CONNECTING; });
    REQUIRE(socket.readyState() == WebSocket::OPEN);
    CHECK(socket.url() == echo.url(host));
    CHECK(socket.protocol() == "chat");
    const std::string big(1 << 20, 'x');
    socket.send("hello over TLS");
    socket.send(big);
    socket.send(ws::Binary{0, 1, 2, 255});
    wait_until([&] { return r.messages.size() == 3; });
    CHECK(r.messages[0].data == "hello over TLS");
    CHECK(r.messages[1].data == big);
    CHECK(r.messages[2].binary() == ws::Binary{0, 1, 2, 255});
    CHECK(socket.bufferedAmount() == 0);
    socket.close(4000, "done");
    wait_until([&] { return r.closed(); });
    CHECK(r.closes[0].code == 4000);
    CHECK(r.closes[0].reason == "done");
    CHECK(r.closes[0].wasClean);
  }
}

TEST_CASE("https:// pages come from onrequest on the same port") {
  TlsEcho echo(tls_options(certs().server));
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(certs().ca);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  const std::string response = https_get(echo.server.port(), ctx);
  CHECK(response.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(response.find("secure page at /page") != std::string::npos);
}

TEST_CASE("a certificate the client does not trust fails the connection") {
  SECTION("no CA added: the system's CAs do not know ours") {
    TlsEcho echo(tls_options(certs().server));
    require_failure(connect(echo.url(), ws::ClientOptions()),
                    "unable to get local issuer certificate");
  }
  SECTION("self-signed") {
    TlsEcho echo(tls_options(certs().self_signed));
    require_failure(connect(echo.url()), "self");
  }
  SECTION("expired") {
    TlsEcho echo(tls_options(certs().expired));
    require_failure(connect(echo.url()), "certificate has expired");
  }
  SECTION("for another host name") {
    TlsEcho echo(tls_options(certs().wrong_host));
    require_failure(connect(echo.url("localhost")), "hostname mismatch");
    require_failure(connect(echo.url("127.0.0.1")), "IP address mismatch");
  }
  SECTION("with reconnect on, not retried: a certificate does not heal") {
    TlsEcho echo(tls_options(certs().expired));
    ws::ClientOptions o = trusting_ca();
    o.reconnect.enabled = true;
    o.reconnect.initialDelay = std::chrono::milliseconds(1);
    // A retry would fire reconnecting, not close, and the wait would fail.
    require_failure(connect(echo.url(), o), "certificate has expired");
  }
  SECTION("the server works on after each failed handshake") {
    TlsEcho echo(tls_options(certs().server));
    require_failure(connect(echo.url(), ws::ClientOptions()), "certificate");
    Recorder r = connect(echo.url());
    CHECK(r.events == std::vector<std::string>{"open", "close"});
  }
}

TEST_CASE("rejectUnauthorized = false accepts any certificate") {
  TlsEcho echo(tls_options(certs().wrong_host));
  ws::ClientOptions insecure;
  insecure.rejectUnauthorized = false;
  Recorder r = connect(echo.url(), insecure);
  CHECK(r.events == std::vector<std::string>{"open", "close"});
  CHECK(r.closes[0].wasClean);
}

TEST_CASE("a chain file lets clients that trust only the root connect") {
  ws::ServerOptions o = tls_options(certs().leaf_of_inter);
  SECTION("with the intermediate sent") {
    o.chainFile = certs().intermediate;
    TlsEcho echo(o);
    CHECK(connect(echo.url()).events ==
          std::vector<std::string>{"open", "close"});
  }
  SECTION("without it the chain is broken") {
    TlsEcho echo(o);
    require_failure(connect(echo.url()),
                    "unable to get local issuer certificate");
  }
}

TEST_CASE("the wrong scheme on either side fails, and says why") {
  SECTION("wss:// to a server that speaks plain HTTP") {
    auto &ctx = ws::detail::loop().ctx;
    asio::ip::tcp::acceptor acceptor(ctx,
                                     {asio::ip::make_address("127.0.0.1"), 0});
    asio::ip::tcp::socket peer(ctx);
    const std::string answer = "HTTP/1.1 400 Bad Request\r\n\r\n";
    acceptor.async_accept(peer, [&](asio::error_code ec) {
      if (!ec)
        asio::async_write(peer, asio::buffer(answer),
                          [](asio::error_code, std::size_t) {});
    });
    require_failure(connect("wss://localhost:" +
                            std::to_string(acceptor.local_endpoint().port()) +
                            "/"),
                    "TLS handshake failed: wrong version number");
  }
  SECTION("ws:// to a TLS server") {
    TlsEcho echo(tls_options(certs().server));
    Recorder r =
        connect("ws://localhost:" + std::to_string(echo.server.port()) + "/");
    REQUIRE(r.events == std::vector<std::string>{"error", "close"});
    CHECK(r.closes[0].code == 1006);
    CHECK(connect(echo.url()).events ==
          std::vector<std::string>{"open", "close"});
  }
}

TEST_CASE("the server refuses TLS older than 1.2") {
  TlsEcho echo(tls_options(certs().server));
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  // OpenSSL's own client would not offer 1.1 at its default security level.
  SSL_CTX_set_security_level(ctx.native_handle(), 0);
  SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_1_VERSION);
  CHECK(https_get(echo.server.port(), ctx).rfind("error: ", 0) == 0);
  // The same client allowed 1.2 gets the page: the version was the reason.
  SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  CHECK(https_get(echo.server.port(), ctx).rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("the client names the host (SNI), never an address") {
  auto &ctx = ws::detail::loop().ctx;
  asio::ssl::context server_ctx(asio::ssl::context::tls_server);
  server_ctx.use_certificate_chain_file(certs().server);
  server_ctx.use_private_key_file(certs().key, asio::ssl::context::pem);
  asio::ip::tcp::acceptor acceptor(ctx,
                                   {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = std::to_string(acceptor.local_endpoint().port());
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    INFO(host);
    asio::ssl::stream<asio::ip::tcp::socket> peer(ctx, server_ctx);
    std::string sni = "(not seen)";
    acceptor.async_accept(peer.lowest_layer(), [&](asio::error_code ec) {
      REQUIRE_FALSE(ec);
      peer.async_handshake(
          asio::ssl::stream_base::server, [&](asio::error_code) {
            const char *name = SSL_get_servername(peer.native_handle(),
                                                  TLSEXT_NAMETYPE_host_name);
            sni = name ? name : "";
          });
    });
    WebSocket socket("wss://" + host + ":" + port + "/", {}, trusting_ca());
    wait_until([&] { return sni != "(not seen)"; });
    CHECK(sni == (host == "localhost" ? "localhost" : ""));
  }
}

TEST_CASE("bad TLS files are clear errors at construction") {
  auto what = [](auto make) {
    try {
      make();
    } catch (const ws::TlsError &e) {
      return std::string(e.what());
    }
    return std::string("no ws::TlsError");
  };
  CHECK(what([] {
          ws::Server s(tls_options("/nonexistent/cert.pem"));
        }).find("cannot use certificate file '/nonexistent/cert.pem'") == 0);
  CHECK(what([] {
          ws::ServerOptions o = tls_options(certs().server);
          o.keyFile = certs().key_of_other;
          ws::Server s(o);
        }).find("does not match") != std::string::npos);
  CHECK(what([] {
          ws::ServerOptions o;
          o.certFile = certs().server;
          ws::Server s(o);
        }) == "ServerOptions: certFile and keyFile go together");
  CHECK(what([] {
          ws::ClientOptions o;
          o.caFile = "/nonexistent/ca.pem";
          WebSocket s("wss://localhost:1/", {}, o);
        }).find("cannot use CA file '/nonexistent/ca.pem'") == 0);
}

TEST_CASE("a close over TLS ends both sides at once, not after a timeout") {
  // Before the fix the server's side waited out websocketpp's 5 s shutdown
  // timer for a close_notify its own pending read had already consumed.
  ws::Server server(tls_options(certs().server));
  std::vector<ws::CloseEvent> server_closes;
  server.onconnection = [&](WebSocket &socket, const ws::Request &) {
    socket.onclose = [&](const ws::CloseEvent &e) {
      server_closes.push_back(e);
    };
    socket.close(4001, "server ends it");
  };
  server.listen(0, "127.0.0.1");
  WebSocket client("wss://localhost:" + std::to_string(server.port()) + "/", {},
                   trusting_ca());
  Recorder r;
  r.attach(client);
  wait_until([&] { return r.closed() && !server_closes.empty(); }, 2s);
  CHECK(r.closes[0].code == 4001);
  CHECK(r.closes[0].wasClean);
  CHECK(server_closes[0].code == 4001);
  CHECK(server_closes[0].wasClean);
}

namespace {

/// A wss:// echo server that asks clients for certificates (Node:
/// requestCert, ca) and records each upgrade request it checked.
struct CertCheckingServer {
  std::vector<ws::Request> seen;
  bool refuse_unauthorized = false; // what verifyClient decides
  std::unique_ptr<TlsEcho> echo;
  explicit CertCheckingServer(bool reject_unauthorized) {
    ws::ServerOptions o = tls_options(certs().server);
    o.requestCert = true;
    o.rejectUnauthorized = reject_unauthorized;
    o.caFile = certs().ca;
    echo = std::make_unique<TlsEcho>(o);
    echo->server.verifyClient = [this](const ws::Request &req) {
      seen.push_back(req);
      return !(refuse_unauthorized && !req.authorized);
    };
  }
};

ws::ClientOptions with_certificate(const std::string &cert) {
  ws::ClientOptions o = trusting_ca();
  o.certFile = cert;
  o.keyFile = certs().key;
  return o;
}

} // namespace

TEST_CASE("client certificates: shown, checked against the server's CA, "
          "and seen by verifyClient") {
  CertCheckingServer checking(true);
  const Recorder r =
      connect(checking.echo->url(), with_certificate(certs().client));
  CHECK(r.events == std::vector<std::string>{"open", "close"});
  REQUIRE(checking.seen.size() == 1);
  CHECK(checking.seen[0].peerCertificate.subject == "CN=ann");
  CHECK(checking.seen[0].peerCertificate.issuer == "CN=ws test CA");
  CHECK(checking.seen[0].authorized);
  CHECK(checking.seen[0].authorizationError.empty());

  // Without one, or with one no trusted CA signed, the TLS handshake fails
  // (Node's default: rejectUnauthorized) and no request is seen. In TLS 1.3
  // the server's alert comes after the client's side of the handshake, so
  // the client reads it as it waits for the upgrade's answer.
  const std::pair<ws::ClientOptions, std::string> refusals[] = {
      {trusting_ca(), "alert certificate required"},
      {with_certificate(certs().client_self), "alert unknown ca"}};
  for (const auto &[options, alert] : refusals) {
    const Recorder refused = connect(checking.echo->url(), options);
    REQUIRE(refused.events == std::vector<std::string>{"error", "close"});
    INFO(refused.errors[0]);
    CHECK(refused.errors[0].find(alert) != std::string::npos);
  }
  CHECK(checking.seen.size() == 1);
}

TEST_CASE("reconnect does not retry a certificate the server refuses") {
  // The server will not change its mind, as with a 403: error, then close
  // after one attempt, where a network failure would be retried.
  CertCheckingServer checking(true);
  for (const auto &options :
       {trusting_ca(), with_certificate(certs().client_self)}) {
    ws::ClientOptions o = options;
    o.reconnect.enabled = true;
    o.reconnect.initialDelay = std::chrono::milliseconds(10);
    WebSocket socket(checking.echo->url(), {}, o);
    Recorder r;
    r.attach(socket);
    std::size_t reconnecting = 0;
    socket.addEventListener("reconnecting",
                            [&](const ws::Event &) { ++reconnecting; });
    wait_until([&] { return r.closed(); });
    CHECK(r.events == std::vector<std::string>{"error", "close"});
    CHECK(reconnecting == 0);
  }
  // The same server still lets a client it trusts reconnect.
  ws::ClientOptions good = with_certificate(certs().client);
  good.reconnect.enabled = true;
  const Recorder r = connect(checking.echo->url(), good);
  CHECK(r.events.front() == "open");
}

TEST_CASE("requestCert without rejectUnauthorized: the program decides") {
  CertCheckingServer checking(false);
  CHECK(connect(checking.echo->url(), trusting_ca()).events ==
        std::vector<std::string>{"open", "close"});
  CHECK(connect(checking.echo->url(), with_certificate(certs().client_self))
            .events == std::vector<std::string>{"open", "close"});
  REQUIRE(checking.seen.size() == 2);
  CHECK_FALSE(checking.seen[0].authorized);
  CHECK(checking.seen[0].peerCertificate.subject.empty());
  CHECK(checking.seen[0].authorizationError ==
        "the client showed no certificate");
  CHECK_FALSE(checking.seen[1].authorized);
  CHECK(checking.seen[1].peerCertificate.subject == "CN=mallory");
  CHECK(checking.seen[1].authorizationError == "self-signed certificate");

  checking.refuse_unauthorized = true; // verifyClient says no: 403
  const Recorder refused =
      connect(checking.echo->url(), with_certificate(certs().client_self));
  REQUIRE(refused.events == std::vector<std::string>{"error", "close"});
  CHECK(refused.errors[0].find("Unexpected response code: 403") !=
        std::string::npos);
  CHECK(
      connect(checking.echo->url(), with_certificate(certs().client)).events ==
      std::vector<std::string>{"open", "close"});
}

TEST_CASE("client certificate options: files that go together, or a clear "
          "error") {
  ws::ClientOptions half = trusting_ca();
  half.certFile = certs().client;
  CHECK_THROWS_AS(WebSocket("wss://localhost:1/", {}, half), ws::TlsError);
  ws::ClientOptions mismatched = with_certificate(certs().client);
  mismatched.keyFile = certs().key_of_other;
  CHECK_THROWS_WITH(WebSocket("wss://localhost:1/", {}, mismatched),
                    test::contains("does not match certificate file"));
  ws::ServerOptions plain;
  plain.requestCert = true;
  CHECK_THROWS_AS(ws::Server(plain), ws::TlsError);
  ws::ServerOptions no_ca = tls_options(certs().server);
  no_ca.requestCert = true;
  no_ca.caFile = "/no/such/ca.pem";
  CHECK_THROWS_WITH(ws::Server(no_ca), test::contains("/no/such/ca.pem"));
  ws::run(); // the constructors that threw left nothing running
}
