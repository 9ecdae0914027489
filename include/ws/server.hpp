// ws::Server: accepts WebSocket connections (each one a ws::WebSocket) and
// answers plain HTTP, in the spirit of Node's WebSocketServer.
// SPDX-License-Identifier: MIT
#pragma once

#include "events.hpp"
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

struct ServerOptions {
  /// Turn websocketpp's own connection and error log on (stdout/stderr).
  bool log = false;
  /// TLS (Node: https.createServer({cert, key})): with both set, the server
  /// speaks only TLS on its port: https:// through onrequest and wss://
  /// sockets. PEM files; certFile may carry the chain after the certificate,
  /// or chainFile may hold it. TLS 1.2 or later, no compression.
  std::string certFile;
  std::string keyFile;
  std::string chainFile;

  // Limits (the README's "Limits" table lists each, and what a peer sees).

  /// Node ws: maxPayload. A message larger than this many bytes closes the
  /// socket with 1009 (Message Too Big); the socket here gets error, then
  /// close 1006.
  std::uint64_t maxPayload = 16 * 1024 * 1024;
  /// A socket whose bufferedAmount is already over this when send() or
  /// broadcast() adds a message (a client that does not read) is closed
  /// with 1008 (Policy Violation); the message is dropped. 0: no limit.
  std::uint64_t maxBufferedAmount = 16 * 1024 * 1024;
  /// A request must complete its upgrade (or plain HTTP request) within
  /// this, or the connection is dropped. Request headers over 16,000 bytes
  /// get 431 (websocketpp's fixed limit).
  std::chrono::milliseconds handshakeTimeout{10000};
  /// After the server closes a socket, how long the client has to answer
  /// with its close frame; then TCP is dropped and close has wasClean ==
  /// false.
  std::chrono::milliseconds closeTimeout{5000};
  /// Heartbeat, off with 0: each socket is pinged every interval, and one
  /// whose pong has not come back by the next ping is dropped (error, then
  /// close 1006): a dead client is found within about two intervals.
  std::chrono::milliseconds pingInterval{0};
  /// Origins allowed to upgrade, such as "https://chat.example.com"
  /// (compared without regard to case). Empty: any. A request with another
  /// Origin gets 403; one without Origin (not from a browser) is allowed.
  std::vector<std::string> allowedOrigins;
  /// Past this many open sockets (and upgrades under way), new upgrades get
  /// 503 and the open sockets are left alone. 0: no limit.
  std::size_t maxConnections = 0;
};

/// Node: WebSocketServer. Listens, upgrades requests to ws::WebSocket, and
/// answers plain HTTP through onrequest.
///
/// Threads: its handlers run on the loop thread. listen(), close() and
/// clients() belong to the loop thread (or to any one thread before the loop
/// runs); broadcast() is safe from any thread, as WebSocket::send() is.
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
  /// Node: wss.on('connection', (socket, req) => ...). The socket is OPEN and
  /// lives until its close event has run; then the server destroys it.
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
  /// Node: wss.clients: the sockets that are OPEN.
  std::vector<WebSocket *> clients() const;
  /// Sends to every OPEN socket, as Node's broadcast idiom does.
  void broadcast(std::string_view text);
  void broadcast(const char *text) { broadcast(std::string_view(text)); }
  void broadcast(const std::string &text) { broadcast(std::string_view(text)); }
  void broadcast(const Binary &data);
  /// Node: wss.close(). Stops listening and closes every socket with 1001;
  /// ws::run() then returns once nothing else is active.
  void close();

private:
  void broadcast_frame(int opcode, const char *data, std::size_t size);
  std::shared_ptr<detail::ServerCore> core_;
};

} // namespace ws

#include "impl/server.hpp"
