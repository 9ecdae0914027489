// ws::Server: accepts WebSocket connections (each one a ws::WebSocket) and
// answers plain HTTP, in the spirit of Node's WebSocketServer.
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#include "events.hpp"
#include "options.hpp"
#include "web_socket.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ws {

namespace detail {
class ServerCore;
}

/// Header names compare without regard to case, as HTTP says.
struct CaseInsensitiveLess {
  bool operator()(const std::string &a, const std::string &b) const;
};
using Headers = std::map<std::string, std::string, CaseInsensitiveLess>;

/// The certificate a TLS client showed (ServerOptions::requestCert). Node:
/// req.socket.getPeerCertificate(), whose subject and issuer are objects;
/// here the RFC 2253 strings, e.g. "CN=ann,O=Example".
struct PeerCertificate {
  std::string subject; ///< "" when the client showed none
  std::string issuer;
};

/// An HTTP request: the upgrade request of a WebSocket, or a plain one.
/// Node: http.IncomingMessage.
struct Request {
  std::string method; ///< "GET"
  std::string url;    ///< the request target as sent: "/chat?room=1"
  std::string path;   ///< "/chat"
  std::string query;  ///< "room=1" ("" if none)
  Headers headers;    ///< e.g. headers["Origin"]
  std::string remoteAddress;
  std::uint16_t remotePort = 0;
  /// Over TLS with ServerOptions::requestCert: the client's certificate,
  /// and (Node: req.socket.authorized, authorizationError) whether it
  /// chains to ServerOptions::caFile, or why not.
  PeerCertificate peerCertificate;
  bool authorized = false;
  std::string authorizationError;
  /// A header's value, or "" when absent.
  std::string header(const std::string &name) const;
};

/// The answer to a plain HTTP request. Node: http.ServerResponse.
struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  void setHeader(const std::string &name, const std::string &value) {
    headers[name] = value;
  }
};

/// Node: WebSocketServer. Listens, upgrades requests to ws::WebSocket, and
/// answers plain HTTP through onrequest.
///
/// Threads: its handlers run on the loop thread. listen(), close() and
/// clients() belong to the loop thread (or to any one thread before the loop
/// runs); broadcast(), publish() and subscriberCount() are safe from any
/// thread, as WebSocket::send() is.
class Server {
public:
  /// Throws ws::TlsError for a certificate, key or chain file that cannot be
  /// used (missing, unreadable, or a key that does not match), and
  /// ws::NotSupportedError for TLS options in a build without TLS.
  explicit Server(ServerOptions options = {});
  /// Closes the server if still open: listening stops and every socket is
  /// closed with 1001; no handler runs afterwards.
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  /// Node: server.on('request', ...) of the http.Server underneath. Without
  /// it, a plain HTTP request gets 426 Upgrade Required.
  std::function<void(const Request &, Response &)> onrequest;
  /// Node: wss.on('connection', (socket, req) => ...). The socket is OPEN.
  /// The server holds it until its close event has run, so handlers may
  /// capture `&socket`; code that keeps it longer, or on another thread,
  /// keeps a copy (a handle: see ws::WebSocket).
  std::function<void(WebSocket &, const Request &)> onconnection;
  /// Node: options.handleProtocols(protocols, req). Returns the chosen
  /// subprotocol, or "" for none. Without it the server picks none (Node
  /// picks the first offered). A name the client did not offer fails the
  /// handshake with 500.
  std::function<std::string(const std::vector<std::string> &, const Request &)>
      handleProtocols;
  /// Node: options.verifyClient(info). Runs for each upgrade request after
  /// the allowedOrigins check; false answers 403 Forbidden (Node's default
  /// is 401) and no socket is made.
  std::function<bool(const Request &)> verifyClient;

  /// Node: server.listen(port, host). Port 0 picks a free port (see port()).
  /// An empty host listens on every interface (IPv6 and IPv4 where the
  /// system allows). Throws ws::ListenError naming the address and port.
  void listen(std::uint16_t port, const std::string &host = "");
  /// The port listened on; 0 before listen().
  std::uint16_t port() const;
  /// True when the server speaks TLS (https:// and wss://).
  bool secure() const;
  /// Node: wss.clients: handles to the sockets that are OPEN, which any
  /// thread may keep and use.
  std::vector<WebSocket> clients() const;
  /// Sends to every OPEN socket, as Node's broadcast idiom does.
  void broadcast(std::string_view text);
  void broadcast(const char *text) { broadcast(std::string_view(text)); }
  void broadcast(const std::string &text) { broadcast(std::string_view(text)); }
  void broadcast(const Binary &data);
  /// As WebSocket::send(data, options): binary or text, compressed or not.
  void broadcast(std::string_view data, SendOptions options);

  /// Bun: server.publish(topic, data). Sends to every OPEN socket here that
  /// subscribes to `topic` (WebSocket::subscribe), framed (and compressed)
  /// once as broadcast() is, and through ServerOptions::bus to the other
  /// servers' subscribers. Safe from any thread; publishes made on one
  /// thread arrive in the order made. Throws ws::SyntaxError for text that
  /// is not UTF-8. (Bun returns the bytes sent; this returns nothing, as
  /// delivery happens on the loop.)
  void publish(const std::string &topic, std::string_view text);
  void publish(const std::string &topic, const char *text) {
    publish(topic, std::string_view(text));
  }
  void publish(const std::string &topic, const std::string &text) {
    publish(topic, std::string_view(text));
  }
  void publish(const std::string &topic, const Binary &data);
  void publish(const std::string &topic, std::string_view data,
               SendOptions options);
  /// Bun: server.subscriberCount(topic): this server's subscribers to it
  /// (not those of other servers on the bus). Safe from any thread.
  std::size_t subscriberCount(const std::string &topic) const;
  /// Node: wss.close(). Stops listening, closes every socket with 1001 and
  /// closes ServerOptions::bus; ws::run() then returns once nothing else is
  /// active.
  void close();

private:
  std::shared_ptr<detail::ServerCore> core_;
};

} // namespace ws

#ifndef WS_SEPARATE_COMPILATION
#include "impl/server.hpp"
#endif
