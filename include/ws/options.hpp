// The options of a client socket, a server and a send(): what a browser
// decides for its pages and a C++ program must say itself. Each limit's
// default is written here once.
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ws {

class Bus;

/// permessage-deflate (RFC 7692), Node ws's perMessageDeflate option with its
/// names (zlibDeflateOptions' level and memLevel flattened). The README's
/// "Compression" section says what it costs and what it saves.
struct PerMessageDeflate {
  /// Offer it (a client) or accept an offer (a server). A browser always
  /// offers it, and so does a ws client by default; a server accepts only
  /// when told to, as Node's ws does (each socket costs memory).
  bool enabled = false;
  /// Ask (a client) or tell the client (a server) that the server starts
  /// each message with an empty window. A ws server does so by default,
  /// unlike Node's: then it keeps no compressor per socket (Node's keeps
  /// 256 KiB) and a broadcast is compressed once for every socket.
  bool serverNoContextTakeover = false;
  /// The same for the client's messages: the server then keeps no
  /// decompressor between them.
  bool clientNoContextTakeover = false;
  /// The largest LZ77 window (2^bits bytes) the server may compress with,
  /// 9-15; 0: not limited (15). 8 is refused: zlib cannot compress with it.
  int serverMaxWindowBits = 0;
  /// The same for the client's compressor, 9-15; 0: not limited.
  int clientMaxWindowBits = 0;
  /// Messages smaller than this many bytes are sent uncompressed (Node: 1024).
  std::size_t threshold = 1024;
  /// zlib's compression level, 0-9 (-1: zlib's default, 6), and memLevel,
  /// 1-9 (what the compressor holds: 2^(memLevel+9) bytes).
  int level = -1;
  int memLevel = 8;
};

/// The limits both roles share. The README's "Limits" table lists each, its
/// default and what the peer sees.
struct ConnectionLimits {
  /// Node ws: maxPayload. A message from the peer larger than this many
  /// bytes fails the connection: the peer gets close 1009 (Message Too
  /// Big); here error, then close 1006.
  std::uint64_t maxPayload = 16 * 1024 * 1024;
  /// Node ws: handshakeTimeout. The whole opening must finish within this,
  /// timed from the start (a client) or from accept (a server): the DNS
  /// lookup, the TCP connect, a proxy's tunnel, TLS and the HTTP upgrade.
  /// A client then fails (error naming the phase, then close 1006); a
  /// server drops the connection. 0: no limit.
  std::chrono::milliseconds handshakeTimeout{10000};
  /// After our side closes, how long the peer has to answer with its close
  /// frame and the end of TCP; then the connection is dropped and close has
  /// wasClean == false.
  std::chrono::milliseconds closeTimeout{5000};
  /// Heartbeat, off with 0: a ping every interval; a pong that has not come
  /// back by the next one drops the connection (error, then close 1006), so
  /// a dead peer is found within about two intervals. While the peer's
  /// other data still arrives (Linux: TCP_INFO), its pong may be waiting
  /// behind it on a slow link: the ping stays out. A browser has no such
  /// option (it cannot send pings); Node ws leaves it to the program.
  std::chrono::milliseconds pingInterval{0};
};

/// Reconnection for a client (ClientOptions::reconnect), off unless enabled.
/// A browser leaves it to the page and Node's ws refuses it; this is the loop
/// every chat page writes, built in. After a connection ends without the
/// program asking (the server restarts, the network drops, the heartbeat
/// finds a dead link, or an attempt fails), the socket waits and connects
/// again: the waits grow from initialDelay by factor up to maxDelay, each
/// chosen at random between half and all of that (so clients dropped
/// together do not come back together). It does not retry errors that will
/// not heal: close() or the last handle going, a 4xx answer to the
/// handshake other than 429, a server certificate that fails verification,
/// a TLS alert in which the server refuses our certificate (or the want of
/// one), a subprotocol other than the first connection's, a close code of
/// 1000
/// (the server ended the conversation) and, unless afterPolicyClose, 1008
/// or 4000-4999.
///
/// Events: while another attempt is coming, `reconnecting` fires where
/// `close` would (after `error` if the connection failed) and readyState is
/// CONNECTING until the next `open`; so send() throws InvalidStateError, as
/// it does while any socket connects: what the program sends is either sent
/// or refused, never queued for later or dropped unseen. `close` fires once,
/// when the socket is done for good. close() while waiting ends the wait as
/// it ends any connection attempt: error, then close 1006.
struct ReconnectOptions {
  bool enabled = false;
  std::chrono::milliseconds initialDelay{1000};
  double factor = 2.0;
  std::chrono::milliseconds maxDelay{30000};
  /// Attempts in a row after which the socket gives up (then close fires).
  /// 0: no cap.
  unsigned maxAttempts = 0;
  /// A connection that stayed open this long starts the count (and the
  /// waits) again; one that ends sooner counts as an attempt that failed,
  /// so a server that accepts and drops at once is not hammered
  /// (reconnecting-websocket's minUptime).
  std::chrono::milliseconds minUptime{5000};
  /// Retry after close codes 1008 and 4000-4999 too (an application's
  /// codes: by default taken to mean "do not come back").
  bool afterPolicyClose = false;
};

/// Node ws: the options of new WebSocket(url, protocols, options).
struct ClientOptions : ConnectionLimits {
  /// A PEM file of CA certificates to trust for wss://, besides the
  /// system's (Node: ca). For self-signed and test set-ups.
  std::string caFile;
  /// Node: rejectUnauthorized. false accepts any certificate for any host:
  /// for tests only. A warning goes to stderr once per process.
  bool rejectUnauthorized = true;
  /// Node: cert and key. A TLS client certificate (PEM; the chain may follow
  /// the certificate) and its key, shown to a wss:// server that asks for
  /// one (ServerOptions::requestCert). Both or neither.
  std::string certFile;
  std::string keyFile;
  /// Node: headers. More headers for the opening handshake, in order (e.g.
  /// {{"Authorization", "Bearer ..."}, {"Cookie", "id=1"}}); the server
  /// sees them in ws::Request. The constructor throws ws::SyntaxError for
  /// a header the protocol owns (Host, Upgrade, Connection, Origin: use
  /// `origin`; Sec-WebSocket-*: use the protocols argument), a name that is
  /// not an HTTP token, or a value with a line break.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Node: origin. The Origin header, which a browser sets to its page's
  /// origin and a server may check (ServerOptions::allowedOrigins). Empty:
  /// none is sent, as Node's ws sends none.
  std::string origin;
  /// An HTTP proxy to go through (Node: an agent such as https-proxy-agent;
  /// curl: --proxy): "http://host:port", or "http://user:password@host:port"
  /// for basic authentication (percent-encode special characters). The
  /// proxy is asked for a tunnel (HTTP CONNECT) to the server, for ws:// and
  /// wss:// alike; wss:// runs TLS through it, end to end, and checks the
  /// server's certificate as without a proxy. No scheme means http://, no
  /// port 1080, as in curl. A proxy that refuses (407, 403, ...) or answers
  /// with nonsense fires error naming its answer, then close 1006.
  std::string proxy;
  /// With `proxy` empty, take it from the environment as curl does:
  /// https_proxy or HTTPS_PROXY for wss://, http_proxy (lower case only)
  /// for ws://, else all_proxy or ALL_PROXY; none for a host that no_proxy
  /// or NO_PROXY lists (names match their subdomains too; "*" matches all).
  /// Off by default: a browser takes the system's settings, Node's ws none.
  bool proxyFromEnvironment = false;
  /// Reconnection after unexpected closes (see ReconnectOptions). With it
  /// on and pingInterval 0, the heartbeat is 30 s: without one a link that
  /// died silently (no FIN, no RST) would be found only by TCP, hours later.
  ReconnectOptions reconnect;
  /// Node ws: perMessageDeflate, on by default as in every browser (which
  /// offers "permessage-deflate; client_max_window_bits"): it is used only
  /// when the server accepts, and extensions() says whether it did.
  PerMessageDeflate perMessageDeflate{true};
};

/// Node ws: the options of new WebSocketServer(options), and of the https
/// server under it.
struct ServerOptions : ConnectionLimits {
  /// Turn websocketpp's own connection and error log on (stdout/stderr).
  bool log = false;
  /// TLS (Node: https.createServer({cert, key})): with both set, the server
  /// speaks only TLS on its port: https:// through onrequest and wss://
  /// sockets. PEM files; certFile may carry the chain after the certificate,
  /// or chainFile may hold it. TLS 1.2 or later, no compression.
  std::string certFile;
  std::string keyFile;
  std::string chainFile;
  /// Node: requestCert. Ask each TLS client for a certificate, checked
  /// against caFile. With rejectUnauthorized (the default, as in Node) a
  /// client without a valid one fails the TLS handshake; without it the
  /// connection goes on, and ws::Request says whether the certificate was
  /// authorized and whose it is, for verifyClient to decide.
  bool requestCert = false;
  bool rejectUnauthorized = true;
  /// Node: ca. PEM CA certificates that client certificates must chain to.
  std::string caFile;

  /// A socket whose bufferedAmount is already over this when send() or
  /// broadcast() adds a message (a client that does not read) is closed
  /// with 1008 (Policy Violation); the message is dropped. 0: no limit.
  std::uint64_t maxBufferedAmount = 16 * 1024 * 1024;
  /// Origins allowed to upgrade, such as "https://chat.example.com"
  /// (compared without regard to case). Empty: any. A request with another
  /// Origin gets 403; one without Origin (not from a browser) is allowed.
  std::vector<std::string> allowedOrigins;
  /// Past this many open sockets (and upgrades under way), new upgrades get
  /// 503 and the open sockets are left alone. 0: no limit.
  std::size_t maxConnections = 0;
  /// Node ws: perMessageDeflate, off by default as in Node. With it on, the
  /// server defaults to server_no_context_takeover (see PerMessageDeflate).
  PerMessageDeflate perMessageDeflate{false, true};
  /// Carries publishes to and from other servers (see ws::Bus; e.g.
  /// std::make_shared<ws::RedisBus>("redis://127.0.0.1:6379")). One server
  /// per bus; the server closes it when it closes. None: topics are local.
  std::shared_ptr<Bus> bus;
};

/// Node ws: the options of socket.send(data, options).
struct SendOptions {
  /// Send the bytes as a binary frame (else a text frame, which must be
  /// UTF-8).
  bool binary = false;
  /// Node ws: compress. false sends this message uncompressed even where
  /// permessage-deflate was agreed (data that does not compress: images,
  /// archives).
  bool compress = true;
};

} // namespace ws
