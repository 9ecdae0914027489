// The engine behind ws::Server: websocketpp's server endpoint, the checks on
// each upgrade request, and the sockets it accepted.
// SPDX-License-Identifier: MIT
// No #pragma once: the guard comes after the includes. Header-only, the
// foot of ../server.hpp includes impl/server.hpp, which includes this file
// again; when this file came first, that second reading defines what
// follows (every class it needs is complete by then), and this one skips it.

#include "../bus.hpp"
#include "../close_codes.hpp"
#include "../server.hpp"
#include "core.hpp"
#include "core_impl.hpp" // forget_handshake

#include <algorithm>
#include <iterator>
#include <set>
#include <stdexcept>
#include <unordered_map>

#ifndef WS_DETAIL_SERVER_CORE_HPP
#define WS_DETAIL_SERVER_CORE_HPP

namespace ws::detail {

#if WS_TLS
/// The certificate a TLS client showed, and whether it verified.
inline void read_peer_certificate(SSL *ssl, PeerCertificate &cert,
                                  bool &authorized, std::string &why_not) {
  auto text = [](X509_NAME *name) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()),
                                                  BIO_free);
    X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
    char *data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
  };
  std::unique_ptr<X509, decltype(&X509_free)> peer(
      SSL_get1_peer_certificate(ssl), X509_free);
  if (!peer) {
    authorized = false;
    why_not = "the client showed no certificate";
    return;
  }
  cert.subject = text(X509_get_subject_name(peer.get()));
  cert.issuer = text(X509_get_issuer_name(peer.get()));
  const long result = SSL_get_verify_result(ssl);
  authorized = result == X509_V_OK;
  if (!authorized)
    why_not = X509_verify_cert_error_string(result);
}

#endif

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
#if WS_TLS
  if (SSL *ssl = con->native_tls(); ssl && SSL_get_verify_mode(ssl) != 0)
    read_peer_certificate(ssl, req.peerCertificate, req.authorized,
                          req.authorizationError);
#endif
  return req;
}

/// The engine behind a ws::Server: websocketpp's server endpoint, the checks
/// on each upgrade, and a handle to each socket it accepted, kept until that
/// socket's close event has run. Loop thread only.
class ServerCore final : public SocketOwner,
                         public std::enable_shared_from_this<ServerCore> {
public:
  ServerEndpoint endpoint;
  Server *owner = nullptr; // cleared by ~Server: no handler runs after it
  // Node-based, so the reference onconnection hands out stays put.
  std::unordered_map<const Core *, WebSocket> sockets;
  bool listening = false;
  bool secure = false; // https and wss://
  bool closing = false;
  std::uint16_t port = 0;
  ConnectionLimits limits;
  std::uint64_t max_buffered = 0;
  std::shared_ptr<const PerMessageDeflate> deflate; // none: off
  std::vector<std::string> allowed_origins;         // lower case
  std::size_t max_connections = 0;
  // Upgrades accepted by validate() and not yet open: they count towards
  // maxConnections. Expired handles are connections that failed.
  std::set<Hdl, std::owner_less<Hdl>> upgrading;
  std::shared_ptr<Topics> topics = std::make_shared<Topics>();
  std::shared_ptr<Bus> bus;         // none: topics stay here
  std::set<std::string> bus_topics; // what the bus was asked for
  bool bus_closed = false;

  void init(const ServerOptions &o) {
    quiet(endpoint, o.log);
    endpoint.init_asio(&loop().ctx);
    endpoint.set_reuse_addr(true);
    endpoint.set_tcp_pre_bind_handler([](auto acceptor) {
      keep_from_children(acceptor->native_handle());
      // An IPv6 socket takes IPv4 too, as libuv (Node) sets it: "every
      // interface" must reach 127.0.0.1 and ::1 alike ("localhost" is ::1
      // first for Node 18), and Windows makes IPv6 sockets IPv6-only.
      // An IPv4 socket refuses the option, and a system without dual stack
      // keeps its own: either way listen() goes on.
      asio::error_code ignored;
      acceptor->set_option(asio::ip::v6_only(false), ignored);
      return websocketpp::lib::error_code();
    });
    limits = o;
    max_buffered = o.maxBufferedAmount;
    endpoint.set_max_message_size(static_cast<std::size_t>(o.maxPayload));
    // handshakeTimeout bounds the whole opening (TLS, then the HTTP
    // upgrade) with one timer per connection, started below.
    endpoint.set_open_handshake_timeout(0);
    endpoint.set_close_handshake_timeout(o.closeTimeout.count());
    for (const auto &origin : o.allowedOrigins)
      allowed_origins.push_back(ascii_lower(origin));
    max_connections = o.maxConnections;
    std::weak_ptr<ServerCore> self = shared_from_this();
    if (o.perMessageDeflate.enabled) {
      check_deflate_options(o.perMessageDeflate);
      deflate = std::make_shared<PerMessageDeflate>(o.perMessageDeflate);
    }
    // As soon as the connection is accepted, before TLS.
    endpoint.set_tcp_pre_init_handler([self](Hdl h) {
      if (auto s = self.lock())
        s->accepted(s->endpoint.get_con_from_hdl(h));
    });
    if (o.bus) {
      if (o.bus->receive)
        throw std::invalid_argument(
            "ServerOptions::bus: that bus already serves another server");
      bus = o.bus;
      bus->receive = [self](const std::string &topic, std::string_view data,
                            SendOptions options) {
        if (auto s = self.lock())
          s->deliver(options.binary ? websocketpp::frame::opcode::binary
                                    : websocketpp::frame::opcode::text,
                     data.data(), data.size(), options.compress,
                     std::make_unique<std::string>(topic), {}, true);
      };
      topics->changed = [self](const std::string &topic) {
        asio::post(loop().ctx, [self, topic] {
          if (auto s = self.lock())
            s->follow(topic);
        });
      };
    }
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

  /// A connection was accepted: its opening is timed from now, and the
  /// extension (before the request is read) answers its offer.
  void accepted(const ConnectionPtr &con) {
    con->deflate_options = deflate;
    std::weak_ptr<Connection> weak = con;
    con->time_opening(limits.handshakeTimeout, [weak] {
      auto c = weak.lock();
      if (!c || c->get_state() != websocketpp::session::state::connecting)
        return;
      c->terminate(websocketpp::error::make_error_code(
          websocketpp::error::open_handshake_timeout));
      c->abort_opening();
    });
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
                  ascii_lower(origin)) == allowed_origins.end()) {
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
    con->opened();
    websocketpp::lib::error_code ignored;
    // A handshake in flight when close() ran still arrives here.
    if (closing || !owner) {
      con->close(CloseCode::goingAway, "", ignored);
      return;
    }
    auto core = std::make_shared<Core>(true);
    core->protocol = con->get_subprotocol();
    core->limits = limits;
    core->max_buffered = max_buffered;
    core->extensions = con->get_response_header("Sec-WebSocket-Extensions");
    if (deflate)
      core->deflate = *deflate;
    core->ready_state = WebSocket::OPEN;
    core->server = std::static_pointer_cast<SocketOwner>(shared_from_this());
    core->topics = topics;
    core->attach(con);
    core->agree_deflate();
    core->start_heartbeat();
    con->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    const Core *key = core.get();
    core->handles = 1; // the server's, until the close event has run
    WebSocket &socket =
        sockets.emplace(key, WebSocket(std::move(core), WebSocket::Adopt{}))
            .first->second;
    Request req;
    if (owner->onconnection)
      req = make_request(con);
    forget_handshake(*con);
    if (owner->onconnection)
      guarded([&] { owner->onconnection(socket, req); });
  }

  void forget(const Core &socket) override {
    auto it = sockets.find(&socket);
    if (it == sockets.end())
      return;
    topics->end(*it->second.core_);
    sockets.erase(it);
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
    // A copy: a socket may finish (and be forgotten) while we go.
    for (auto &socket : clients())
      socket.core_->request_close(CloseCode::goingAway, "");
    close_bus();
  }

  /// Node: wss.clients.
  std::vector<WebSocket> clients() const {
    std::vector<WebSocket> open;
    open.reserve(sockets.size());
    for (const auto &s : sockets)
      if (s.second.readyState() == WebSocket::OPEN)
        open.push_back(s.second);
    return open;
  }

  /// Framed once, on the caller's thread: a server's frames are not masked,
  /// so every socket can send the same bytes (websocketpp only reads a
  /// queued message). Each socket holds it through share_frame(), which
  /// keeps its bufferedAmount. With permessage-deflate, sockets that
  /// compress each message alone (server_no_context_takeover) share one
  /// compressed frame per window size, the server's own compressed here;
  /// a socket with context takeover compresses its copy itself.
  void broadcast(int opcode, const char *data, std::size_t size,
                 bool compress) {
    deliver(opcode, data, size, compress, nullptr, {}, false);
  }

  /// Server::publish and a socket's (which leaves out `except`): to the
  /// topic's subscribers, as broadcast() sends to all, and to the bus.
  void publish(int opcode, const char *data, std::size_t size, bool compress,
               std::string topic, std::weak_ptr<Core> except) override {
    deliver(opcode, data, size, compress,
            std::make_unique<std::string>(std::move(topic)), std::move(except),
            false);
  }

  /// Sends to every OPEN socket, or (with a topic) to its subscribers; a
  /// publish made here also goes to the bus, one from the bus does not.
  void deliver(int opcode, const char *data, std::size_t size, bool compress,
               std::unique_ptr<std::string> topic, std::weak_ptr<Core> except,
               bool from_bus) {
    static const BufferedCounter uncounted = std::make_shared<Owed>(0);
    const auto op = static_cast<websocketpp::frame::opcode::value>(opcode);
    auto frame = make_frame(op, data, size, false, uncounted, 0);
    const bool wanted = compress;
    compress = compress && deflate && size >= deflate->threshold;
    // Most sockets agreed to the server's own window.
    const int bits = deflate && deflate->serverMaxWindowBits
                         ? deflate->serverMaxWindowBits
                         : 15;
    MessagePtr packed;
    if (compress) {
      const std::string c =
          compress_alone(data, size, bits, deflate->level, deflate->memLevel);
      packed = make_frame(op, c.data(), c.size(), false, uncounted, 0, true);
    }
    Core::on_loop([self = shared_from_this(), frame = std::move(frame),
                   packed = std::move(packed), bits, op, size,
                   topic = std::move(topic), except = std::move(except),
                   from_bus, wanted] {
      // (window bits or 0 for none, its frame), made as sockets need them.
      std::vector<std::pair<int, SharedFrame *>> frames;
      std::size_t n = self->sockets.size();
      auto shared = [&](int key) -> SharedFrame & {
        for (auto &f : frames)
          if (f.first == key)
            return *f.second;
        MessagePtr m = key == 0 ? frame : key == bits ? packed : nullptr;
        if (!m) {
          const std::string &raw = frame->get_payload();
          const std::string c =
              compress_alone(raw.data(), raw.size(), key, self->deflate->level,
                             self->deflate->memLevel);
          m = make_frame(op, c.data(), c.size(), false, uncounted, 0, true);
        }
        frames.emplace_back(key, new SharedFrame(m, n));
        return *frames.back().second;
      };
      auto send = [&](Core &c) {
        if (c.ready_state.load() != WebSocket::OPEN)
          return;
        const int mode = packed ? c.deflate_mode.load() : 0;
        if (mode && !(mode & no_context_bit))
          c.send_in_order(op, frame->get_payload());
        else
          c.queue(share_frame(shared(mode & 0xFF), size, c.counters->buffered),
                  size);
      };
      if (!topic) {
        for (const auto &s : self->sockets)
          send(*s.second.core_);
      } else {
        // The subscribers now: each stays alive while we send (the server
        // holds it until its subscriptions have ended, on this thread).
        thread_local std::vector<Core *> to;
        to.clear();
        const auto left_out = except.lock();
        self->topics->subscribers(*topic, left_out.get(), to);
        n = to.size();
        for (Core *c : to)
          send(*c);
        to.clear();
        if (self->bus && !self->bus_closed && !from_bus) {
          const std::string &raw = frame->get_payload();
          guarded([&] {
            self->bus->publish(
                *topic, raw,
                {op == websocketpp::frame::opcode::binary, wanted});
          });
        }
      }
      for (auto &f : frames)
        f.second->let_go();
    });
  }

  /// A topic gained its first subscriber or lost its last: the bus follows.
  /// On the loop thread, from the latest count, so changes from several
  /// threads settle on what is true now.
  void follow(const std::string &topic) {
    if (!bus || bus_closed)
      return;
    const bool want = topics->count(topic) > 0;
    if (want == (bus_topics.count(topic) > 0))
      return;
    if (want)
      bus_topics.insert(topic);
    else
      bus_topics.erase(topic);
    guarded([&] {
      if (want)
        bus->subscribe(topic);
      else
        bus->unsubscribe(topic);
    });
  }

  void close_bus() {
    if (!bus || bus_closed)
      return;
    bus_closed = true;
    guarded([&] { bus->close(); });
  }

  /// ~Server: every socket closed with 1001, and no handler of theirs runs
  /// again (they may refer to the server), even where a thread keeps a
  /// handle.
  void shutdown() {
    close();
    owner = nullptr;
    for (auto &s : sockets) {
      s.second.core_->drop_handlers();
      topics->end(*s.second.core_);
    }
    sockets.clear();
    if (bus) {
      close_bus();
      bus->receive = nullptr;
    }
  }
};
} // namespace ws::detail

#endif // WS_DETAIL_SERVER_CORE_HPP
