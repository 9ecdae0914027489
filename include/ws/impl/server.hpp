// Definitions for server.hpp, and the core that owns the accepted sockets.
// SPDX-License-Identifier: MIT
#pragma once

#include "../detail/core.hpp"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <set>
#include <stdexcept>

namespace ws {
namespace detail {

inline Request make_request(const ConnectionPtr &con) {
  Request req;
  const auto &r = con->get_request();
  req.method = r.get_method();
  req.url = r.get_uri();
  const auto q = req.url.find('?');
  req.path = req.url.substr(0, q);
  if (q != std::string::npos)
    req.query = req.url.substr(q + 1);
  for (const auto &h : r.get_headers())
    req.headers[h.first] = h.second;
  asio::error_code ec;
  auto ep = con->get_raw_socket().remote_endpoint(ec);
  if (!ec) {
    auto addr = ep.address();
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    if (addr.is_v6() && addr.to_v6().is_v4_mapped())
      addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
    req.remoteAddress = addr.to_string();
    req.remotePort = ep.port();
  }
  return req;
}

class ServerCore : public std::enable_shared_from_this<ServerCore> {
public:
  ServerEndpoint endpoint;
  Server *owner = nullptr; // cleared by ~Server: no handler runs after it
  std::map<Hdl, std::unique_ptr<WebSocket>, std::owner_less<Hdl>> sockets;
  bool listening = false;
  bool secure = false; // https and wss://
  bool closing = false;
  std::uint16_t port = 0;
  Limits limits;
  std::vector<std::string> allowed_origins; // lower case
  std::size_t max_connections = 0;
  // Upgrades accepted by validate() and not yet open: they count towards
  // maxConnections. Expired handles are connections that failed.
  std::set<Hdl, std::owner_less<Hdl>> upgrading;

  void init(const ServerOptions &o) {
    quiet(endpoint, o.log);
    endpoint.init_asio(&loop().ctx);
    endpoint.set_reuse_addr(true);
    limits.max_payload = o.maxPayload;
    limits.max_buffered = o.maxBufferedAmount;
    limits.handshake_timeout = o.handshakeTimeout;
    limits.close_timeout = o.closeTimeout;
    limits.ping_interval = o.pingInterval;
    endpoint.set_max_message_size(static_cast<std::size_t>(o.maxPayload));
    endpoint.set_open_handshake_timeout(o.handshakeTimeout.count());
    endpoint.set_close_handshake_timeout(o.closeTimeout.count());
    for (const auto &origin : o.allowedOrigins)
      allowed_origins.push_back(lower(origin));
    max_connections = o.maxConnections;
    std::weak_ptr<ServerCore> self = shared_from_this();
    endpoint.set_fail_handler([self](Hdl h) {
      if (auto s = self.lock())
        s->upgrading.erase(h);
    });
    endpoint.set_validate_handler([self](Hdl h) {
      auto s = self.lock();
      return s && s->validate(h);
    });
    endpoint.set_open_handler([self](Hdl h) {
      if (auto s = self.lock())
        s->open(h);
    });
    endpoint.set_http_handler([self](Hdl h) {
      if (auto s = self.lock())
        s->http(h);
    });
  }

  static std::string lower(std::string s) {
    for (auto &c : s)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  bool validate(Hdl h) {
    namespace status = websocketpp::http::status_code;
    auto con = endpoint.get_con_from_hdl(h);
    if (closing || !owner) {
      con->set_status(status::service_unavailable);
      return false;
    }
    // RFC 6455 4.4: only version 13 (websocketpp would also speak the
    // drafts before it, which no browser has sent since 2012).
    if (con->get_request_header("Sec-WebSocket-Version") != "13") {
      con->set_status(status::upgrade_required);
      con->replace_header("Sec-WebSocket-Version", "13");
      return false;
    }
    // Cross-site WebSocket hijacking: a browser always sends Origin, and the
    // page's origin cannot be forged by the page.
    const std::string origin = con->get_request_header("Origin");
    if (!allowed_origins.empty() && !origin.empty() &&
        std::find(allowed_origins.begin(), allowed_origins.end(),
                  lower(origin)) == allowed_origins.end()) {
      con->set_status(status::forbidden);
      return false;
    }
    if (owner->verifyClient) {
      bool ok = false;
      try {
        ok = owner->verifyClient(make_request(con));
      } catch (...) {
        report_uncaught(std::current_exception());
        con->set_status(status::internal_server_error);
        return false;
      }
      if (!ok) {
        con->set_status(status::forbidden);
        return false;
      }
    }
    if (max_connections) {
      for (auto it = upgrading.begin(); it != upgrading.end();)
        it = it->expired() ? upgrading.erase(it) : std::next(it);
      if (sockets.size() + upgrading.size() >= max_connections) {
        con->set_status(status::service_unavailable);
        return false;
      }
    }
    if (!choose_protocol(con))
      return false;
    if (max_connections)
      upgrading.insert(h);
    return true;
  }

  bool choose_protocol(const ConnectionPtr &con) {
    const auto &offered = con->get_requested_subprotocols();
    if (offered.empty() || !owner->handleProtocols)
      return true;
    std::string chosen;
    try {
      chosen = owner->handleProtocols(offered, make_request(con));
    } catch (...) {
      report_uncaught(std::current_exception());
      con->set_status(websocketpp::http::status_code::internal_server_error);
      return false;
    }
    if (chosen.empty())
      return true;
    websocketpp::lib::error_code ec;
    con->select_subprotocol(chosen, ec);
    if (ec) {
      report_uncaught(std::make_exception_ptr(
          std::invalid_argument("handleProtocols chose '" + chosen +
                                "', which the client did not offer")));
      con->set_status(websocketpp::http::status_code::internal_server_error);
      return false;
    }
    return true;
  }

  void open(Hdl h) {
    upgrading.erase(h);
    auto con = endpoint.get_con_from_hdl(h);
    websocketpp::lib::error_code ignored;
    // A handshake in flight when close() ran still arrives here.
    if (closing || !owner) {
      con->close(CloseCode::goingAway, "", ignored);
      return;
    }
    auto core = std::make_shared<Core>(true);
    core->protocol = con->get_subprotocol();
    core->limits = limits;
    core->ready_state = WebSocket::OPEN;
    core->attach(con);
    core->start_heartbeat();
    con->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    std::weak_ptr<ServerCore> self = shared_from_this();
    core->on_finished = [self, h] {
      if (auto s = self.lock())
        s->sockets.erase(h);
    };
    std::unique_ptr<WebSocket> socket(new WebSocket(core));
    WebSocket &ref = *socket;
    sockets.emplace(h, std::move(socket));
    if (owner->onconnection) {
      Request req = make_request(con);
      guarded([&] { owner->onconnection(ref, req); });
    }
  }

  void http(Hdl h) {
    auto con = endpoint.get_con_from_hdl(h);
    Response res;
    if (!owner || !owner->onrequest) {
      // As Node's WebSocketServer answers a request that is not an upgrade.
      res.status = 426;
      res.setHeader("Content-Type", "text/plain");
      res.body = "Upgrade Required";
    } else {
      try {
        owner->onrequest(make_request(con), res);
      } catch (...) {
        report_uncaught(std::current_exception());
        res = Response();
        res.status = 500;
        res.body = "Internal Server Error";
      }
    }
    con->set_status(
        static_cast<websocketpp::http::status_code::value>(res.status));
    for (const auto &hv : res.headers)
      con->replace_header(hv.first, hv.second);
    con->set_body(res.body);
  }

  void close() {
    closing = true;
    if (listening) {
      websocketpp::lib::error_code ignored;
      endpoint.stop_listening(ignored);
      listening = false;
    }
    // By handle: a socket may finish (and be erased) while we go.
    std::vector<Hdl> handles;
    for (const auto &s : sockets)
      handles.push_back(s.first);
    for (const auto &h : handles) {
      auto it = sockets.find(h);
      if (it != sockets.end())
        it->second->request_close(CloseCode::goingAway, "");
    }
  }
};

} // namespace detail

inline bool CaseInsensitiveLess::operator()(const std::string &a,
                                            const std::string &b) const {
  return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) <
               std::tolower(static_cast<unsigned char>(y));
      });
}

inline std::string Request::header(const std::string &name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

inline Server::Server(ServerOptions options)
    : core_(std::make_shared<detail::ServerCore>()) {
  core_->owner = this;
  core_->init(options);
  if (options.certFile.empty() && options.keyFile.empty())
    return;
  if (options.certFile.empty() || options.keyFile.empty())
    throw TlsError("ServerOptions: certFile and keyFile go together");
#if WS_TLS
  auto tls = detail::server_context(options.certFile, options.keyFile,
                                    options.chainFile);
  core_->endpoint.set_tls_init_handler([tls](detail::Hdl) { return tls; });
  core_->secure = true;
#else
  throw NotSupportedError(
      "Server: https and wss:// need TLS, which was not built into ws (build "
      "with OpenSSL: the meson option tls, or define WS_TLS=1 and link "
      "-lssl -lcrypto).");
#endif
}

inline Server::~Server() {
  core_->close();
  core_->owner = nullptr;
  // Their close events would reach handlers that may already be gone.
  core_->sockets.clear();
  // websocketpp's aborted accept still refers to the endpoint: keep it until
  // the loop has run that handler.
  asio::post(detail::loop().ctx, [keep = core_] {});
}

inline void Server::listen(std::uint16_t port, const std::string &host) {
  auto &ctx = detail::loop().ctx;
  const std::string where =
      (host.empty() ? std::string("*") : host) + ":" + std::to_string(port);
  std::vector<asio::ip::tcp::endpoint> candidates;
  asio::error_code ec;
  if (host.empty()) {
    // Every interface: dual-stack IPv6, or IPv4 where IPv6 is off.
    candidates = {{asio::ip::tcp::v6(), port}, {asio::ip::tcp::v4(), port}};
  } else if (auto addr = asio::ip::make_address(host, ec); !ec) {
    candidates = {{addr, port}};
  } else {
    asio::ip::tcp::resolver resolver(ctx);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty())
      throw ListenError("listen(): cannot resolve host '" + host +
                        "': " + ec.message());
    candidates = {*results.begin()};
  }
  websocketpp::lib::error_code wec;
  for (const auto &ep : candidates) {
    core_->endpoint.listen(ep, wec);
    if (!wec)
      break;
  }
  if (wec) {
    // websocketpp may hide the system's reason behind "Underlying Transport
    // Error"; a bind of our own says it plainly (EADDRINUSE and so on).
    asio::ip::tcp::acceptor probe(ctx);
    asio::error_code bec;
    probe.open(candidates.back().protocol(), bec);
    if (!bec)
      probe.bind(candidates.back(), bec);
    throw ListenError("listen(): cannot listen on " + where + ": " +
                      (bec ? bec.message() : wec.message()));
  }
  core_->endpoint.start_accept(wec);
  if (wec)
    throw ListenError("listen(): cannot accept on " + where + ": " +
                      wec.message());
  core_->listening = true;
  core_->closing = false;
  core_->port = core_->endpoint.get_local_endpoint(ec).port();
}

inline std::uint16_t Server::port() const { return core_->port; }

inline bool Server::secure() const { return core_->secure; }

inline std::vector<WebSocket *> Server::clients() const {
  std::vector<WebSocket *> open;
  for (const auto &s : core_->sockets)
    if (s.second->readyState() == WebSocket::OPEN)
      open.push_back(s.second.get());
  return open;
}

inline void Server::broadcast(std::string_view text) {
  if (!detail::valid_utf8(text))
    throw SyntaxError("broadcast(): the message is not valid UTF-8; send it "
                      "as ws::Binary instead.");
  broadcast_frame(websocketpp::frame::opcode::text, text.data(), text.size());
}

inline void Server::broadcast(const Binary &data) {
  broadcast_frame(websocketpp::frame::opcode::binary,
                  reinterpret_cast<const char *>(data.data()), data.size());
}

// Framed once, on the caller's thread: a server's frames are not masked, so
// every socket can send the same bytes (websocketpp only reads a queued
// message). Each socket holds it through share_frame(), which keeps its
// bufferedAmount. The set of sockets belongs to the loop.
inline void Server::broadcast_frame(int opcode, const char *data,
                                    std::size_t size) {
  static const detail::BufferedCounter uncounted =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  auto frame =
      detail::make_frame(static_cast<websocketpp::frame::opcode::value>(opcode),
                         data, size, false, uncounted, 0);
  detail::Core::on_loop([core = core_, frame = std::move(frame), size] {
    for (const auto &s : core->sockets) {
      detail::Core &c = *s.second->core_;
      if (c.ready_state.load() == WebSocket::OPEN)
        c.queue(detail::share_frame(frame, size, c.buffered), size);
    }
  });
}

inline void Server::close() { core_->close(); }

} // namespace ws
