// A websocketpp socket policy that is plain TCP or TLS per connection, so ws://
// and wss:// share one connection type (and the rest of ws one code path).
// SPDX-License-Identifier: MIT
#pragma once

// Set by the meson dependency and the pkg-config file (1 when OpenSSL was
// found). A hand-made build gets ws:// only unless it defines WS_TLS=1 and
// links -lssl -lcrypto.
#ifndef WS_TLS
#define WS_TLS 0
#endif

#include "prelude.hpp"

#include "os.hpp"

#include <websocketpp/common/asio.hpp>
#include <websocketpp/common/connection_hdl.hpp>
#include <websocketpp/transport/asio/base.hpp>
#include <websocketpp/transport/asio/security/base.hpp>
#include <websocketpp/transport/base/connection.hpp>
#include <websocketpp/uri.hpp>
#if WS_TLS
#include <websocketpp/common/asio_ssl.hpp>
#endif

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

namespace ws::detail::dual_socket {

namespace wsp = websocketpp;
namespace sock = websocketpp::transport::asio::socket;
using Tcp = asio::ip::tcp::socket;
#if WS_TLS
using TlsStream = asio::ssl::stream<Tcp>;
/// Gives the TLS context for a connection: nullptr means plain TCP.
using TlsInitHandler =
    std::function<std::shared_ptr<asio::ssl::context>(wsp::connection_hdl)>;
#endif

/// What websocketpp reads and writes through: forwards each operation to the
/// TLS stream when there is one, else to the TCP socket.
class Stream {
public:
  using executor_type = Tcp::executor_type;
  using lowest_layer_type = Tcp;

  Tcp *tcp = nullptr;
#if WS_TLS
  TlsStream *tls = nullptr;
#endif

  executor_type get_executor() { return tcp->get_executor(); }
  Tcp &lowest_layer() { return *tcp; }

  template <class Buffers, class Handler>
  void async_read_some(const Buffers &buffers, Handler &&handler) {
    if (held) {
      // ws::WebSocket::pause(): the read waits, so the kernel's receive
      // buffer fills and TCP's window closes on the peer.
      waiting = std::make_unique<Waiting<Buffers, std::decay_t<Handler>>>(
          this, buffers, std::forward<Handler>(handler));
      return;
    }
    start_read(buffers, std::forward<Handler>(handler));
  }

  /// Holds websocketpp's reads (true) or lets them go on (false): a read
  /// asked for while held is issued when the hold ends. websocketpp's own
  /// pause_reading() is not used: resumed before its pending read has
  /// completed, it issues a second read into the same buffer.
  void hold_reads(bool hold) {
    held = hold;
    if (!hold && waiting)
      std::exchange(waiting, nullptr)->start();
  }
  /// The connection is ending: a read that waits is dropped with it (it
  /// holds websocketpp's connection, which holds this stream).
  void drop_waiting_read() { waiting.reset(); }

private:
  struct Waited {
    virtual ~Waited() = default;
    virtual void start() = 0;
  };
  template <class Buffers, class Handler> struct Waiting : Waited {
    Stream *stream;
    Buffers buffers;
    Handler handler;
    template <class H>
    Waiting(Stream *s, const Buffers &b, H &&h)
        : stream(s), buffers(b), handler(std::forward<H>(h)) {}
    void start() override { stream->start_read(buffers, std::move(handler)); }
  };
  bool held = false;
  std::unique_ptr<Waited> waiting;

  template <class Buffers, class Handler>
  void start_read(const Buffers &buffers, Handler &&handler) {
#if WS_TLS
    if (tls)
      return tls->async_read_some(buffers, std::forward<Handler>(handler));
#endif
    if (read_before)
      return tcp->async_read_some(buffers, std::forward<Handler>(handler));
    // The first bytes of plain HTTP can never be a TLS handshake record
    // (type 22): that is a wss:// client at a ws:// port. Ending the
    // connection at once lets the client say so (see the TLS handshake's
    // end-of-file message), where both sides would wait for a timeout.
    read_before = true;
    const asio::mutable_buffer first = *asio::buffer_sequence_begin(buffers);
    tcp->async_read_some(
        buffers,
        [first, h = std::decay_t<Handler>(std::forward<Handler>(handler))](
            asio::error_code ec, std::size_t n) mutable {
          if (!ec && n > 0 && *static_cast<unsigned char *>(first.data()) == 22)
            ec = asio::error::connection_aborted;
          h(ec, n);
        });
  }

public:
  bool read_before = false;

  template <class Buffers, class Handler>
  void async_write_some(const Buffers &buffers, Handler &&handler) {
#if WS_TLS
    if (tls)
      return tls->async_write_some(buffers, std::forward<Handler>(handler));
#endif
    tcp->async_write_some(buffers, std::forward<Handler>(handler));
  }
};

/// An HTTP CONNECT tunnel (RFC 9110 9.3.6) that a client opens through the
/// proxy it reached, before TLS and the WebSocket handshake. websocketpp's
/// own proxy code only resolves and dials the proxy for us: its reading of
/// the answer throws out of the event loop on a malformed one (its issue
/// 1197), reads without bound, and hides the proxy's status line.
struct Tunnel {
  std::string proxy;         // for messages: http://host:port
  std::string authority;     // host:port to connect to
  std::string authorization; // Proxy-Authorization value, or ""
};

/// Where a connection's opening handshake is, for the message when
/// handshakeTimeout runs out.
enum class Phase { dns, tcp, tunnel, tls, http };

inline const char *phase_name(Phase p) {
  switch (p) {
  case Phase::dns:
    return "DNS lookup";
  case Phase::tcp:
    return "TCP connect";
  case Phase::tunnel:
    return "Proxy tunnel";
  case Phase::tls:
    return "TLS handshake";
  case Phase::http:
    break;
  }
  return "WebSocket handshake";
}

/// Bounds the proxy's answer: a CONNECT answer is a status line and a few
/// headers.
constexpr std::size_t max_proxy_answer = 16 * 1024;

/// The per-connection half of the policy (websocketpp's
/// transport/asio/security/{none,tls}.hpp, merged).
class connection : public std::enable_shared_from_this<connection> {
public:
  using type = connection;
  using ptr = std::shared_ptr<type>;
  using io_service_ptr = asio::io_context *;
  using strand_ptr = std::shared_ptr<asio::io_context::strand>;

  ptr get_shared() { return shared_from_this(); }
  bool is_secure() const {
#if WS_TLS
    return tls_ != nullptr;
#else
    return false;
#endif
  }
  Stream &get_socket() { return stream_; }
  Tcp &get_next_layer() { return *stream_.tcp; }
  Tcp &get_raw_socket() { return *stream_.tcp; }

#if WS_TLS
  void set_tls_init_handler(TlsInitHandler h) { tls_init_ = std::move(h); }
  /// The OpenSSL connection, or nullptr for plain TCP.
  SSL *native_tls() { return tls_ ? tls_->native_handle() : nullptr; }
#endif
  /// Why the TLS handshake failed, as OpenSSL said it ("" if it did not),
  /// and its error code.
  const std::string &tls_error() const { return tls_error_; }
  const asio::error_code &tls_ec() const { return tls_ec_; }

  /// A client's tunnel through its proxy (set before connecting).
  void set_tunnel(Tunnel t) {
    tunnel_ = std::make_unique<Tunnel>(std::move(t));
  }
  /// Why the tunnel failed ("" if it did not), and the proxy's status code
  /// when it answered with one.
  const std::string &tunnel_error() const { return tunnel_error_; }
  int tunnel_status() const { return tunnel_status_; }
  /// Whether the proxy was reached (the tunnel was asked for).
  bool tunnel_asked() const { return tunnel_asked_; }

  /// One timer for the whole opening handshake, in both roles: DNS, TCP
  /// connect, the proxy tunnel, TLS and the HTTP upgrade. websocketpp times
  /// each phase itself, some only at compile time; ws turns those off (see
  /// Config) and calls `expired` once `limit` has passed, unless opened()
  /// came first. 0: no limit.
  void time_opening(std::chrono::milliseconds limit,
                    std::function<void()> expired) {
    if (limit.count() <= 0)
      return;
    opening_timer_ = std::make_unique<asio::steady_timer>(*service_, limit);
    std::weak_ptr<connection> self = get_shared();
    opening_timer_->async_wait(
        [self, expired = std::move(expired)](const asio::error_code &ec) {
          if (!ec && self.lock())
            expired();
        });
  }
  void opened() { opening_timer_.reset(); } // cancels it
  Phase phase() const { return phase_; }
  void set_phase(Phase p) { phase_ = p; }
  /// Client: the DNS lookup in flight, which abort_opening() cancels.
  void set_resolver(std::shared_ptr<asio::ip::tcp::resolver> r) {
    resolver_ = std::move(r);
  }
  /// Ends whatever the opening waits on (the lookup, the connect, the
  /// tunnel, TLS or the HTTP exchange): each ends with operation_aborted.
  void abort_opening() {
    if (resolver_)
      resolver_->cancel();
    resolver_.reset();
    asio::error_code ignored;
    stream_.tcp->close(ignored);
  }

  /// ws::WebSocket::pause() and resume(), once open (see Stream).
  void hold_reads(bool hold) { stream_.hold_reads(hold); }

  std::string get_remote_endpoint(wsp::lib::error_code &ec) const {
    asio::error_code aec;
    auto ep = stream_.tcp->remote_endpoint(aec);
    std::stringstream s;
    if (aec) {
      ec = sock::make_error_code(sock::error::pass_through);
      s << "Error getting remote endpoint: " << aec << " (" << aec.message()
        << ")";
    } else {
      ec = wsp::lib::error_code();
      s << ep;
    }
    return s.str();
  }

protected:
  wsp::lib::error_code init_asio(io_service_ptr service, strand_ptr,
                                 bool is_server) {
    service_ = service;
    is_server_ = is_server;
    tcp_ = std::make_unique<Tcp>(*service);
    stream_.tcp = tcp_.get();
    // A server's connections are secure when it has a context; a client's
    // only learn their scheme in set_uri(), which websocketpp calls later.
    if (is_server)
      return make_tls();
    return {};
  }

  void set_uri(wsp::uri_ptr u) {
    uri_ = u;
    if (!is_server_ && u->get_secure())
      ec_ = make_tls();
  }

  void pre_init(wsp::transport::init_handler callback) {
    // Connected or accepted: the earliest websocketpp lets us see it.
    keep_from_children(stream_.tcp->native_handle());
#if WS_TLS
    if (!ec_ && !is_server_ && uri_ && uri_->get_secure() && !tls_)
      ec_ = sock::make_error_code(sock::error::missing_tls_init_handler);
    if (ec_) {
      callback(ec_);
      return;
    }
    if (tls_ && !is_server_) {
      // SNI names a host, never an address (RFC 6066 3).
      const std::string &host = uri_->get_host();
      asio::error_code aec;
      asio::ip::make_address(host, aec);
      if (aec &&
          // SSL_set_tlsext_host_name, without its macro's C cast (a
          // user's -Wold-style-cast would see it here).
          SSL_ctrl(tls_->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME,
                   TLSEXT_NAMETYPE_host_name,
                   const_cast<char *>(host.c_str())) != 1) {
        ec_ = sock::make_error_code(sock::error::tls_failed_sni_hostname);
        callback(ec_);
        return;
      }
    }
#endif
    if (tunnel_ && !ec_)
      return open_tunnel(std::move(callback));
    callback(ec_);
  }

  /// Asks the proxy for the tunnel and reads its answer (the opening
  /// timer bounds the wait).
  void open_tunnel(wsp::transport::init_handler callback) {
    phase_ = Phase::tunnel;
    tunnel_asked_ = true;
    auto self = get_shared();
    auto request = std::make_shared<std::string>(
        "CONNECT " + tunnel_->authority +
        " HTTP/1.1\r\nHost: " + tunnel_->authority + "\r\n");
    if (!tunnel_->authorization.empty())
      *request += "Proxy-Authorization: " + tunnel_->authorization + "\r\n";
    *request += "\r\n";
    asio::async_write(
        *stream_.tcp, asio::buffer(*request),
        [self, request, callback](const asio::error_code &ec, std::size_t) {
          if (ec)
            return self->tunnel_done(ec, callback);
          auto answer = std::make_shared<asio::streambuf>(max_proxy_answer);
          asio::async_read_until(
              *self->stream_.tcp, *answer, "\r\n\r\n",
              [self, answer, callback](const asio::error_code &rec,
                                       std::size_t n) {
                if (!rec)
                  self->read_tunnel_answer(*answer, n);
                self->tunnel_done(rec, callback);
              });
        });
  }

  /// Checks the proxy's answer head (`n` bytes of `answer`): any 2xx opens
  /// the tunnel (RFC 9110 15.3); anything else is the proxy's refusal.
  void read_tunnel_answer(const asio::streambuf &answer, std::size_t n) {
    const std::string head(asio::buffers_begin(answer.data()),
                           asio::buffers_begin(answer.data()) +
                               static_cast<std::ptrdiff_t>(n));
    const std::string line = head.substr(0, head.find("\r\n"));
    // "HTTP/1.x SSS reason"
    const bool well_formed =
        line.size() >= 12 && line.compare(0, 7, "HTTP/1.") == 0 &&
        line[8] == ' ' && std::isdigit(static_cast<unsigned char>(line[9])) &&
        std::isdigit(static_cast<unsigned char>(line[10])) &&
        std::isdigit(static_cast<unsigned char>(line[11])) &&
        (line.size() == 12 || line[12] == ' ');
    std::string shown;
    for (char c : line.substr(0, 200))
      shown += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (!well_formed) {
      tunnel_error_ =
          "the proxy " + tunnel_->proxy + " sent a malformed answer: " + shown;
      return;
    }
    tunnel_status_ = std::stoi(line.substr(9, 3));
    if (tunnel_status_ < 200 || tunnel_status_ > 299)
      tunnel_error_ = "the proxy " + tunnel_->proxy +
                      " refused the tunnel: " + shown.substr(9);
    else if (answer.size() > n)
      // The server speaks only after our request or TLS hello: bytes now
      // are not the server's.
      tunnel_error_ = "the proxy " + tunnel_->proxy +
                      " sent bytes after its answer, before the server "
                      "could speak";
  }

  void tunnel_done(const asio::error_code &ec,
                   const wsp::transport::init_handler &callback) {
    if (tunnel_error_.empty() && ec) {
      tunnel_error_ = ec == asio::error::not_found
                          ? "the proxy " + tunnel_->proxy +
                                " sent an answer over " +
                                std::to_string(max_proxy_answer) +
                                " bytes without an end to its headers"
                          : "the proxy " + tunnel_->proxy +
                                " closed the connection: " + reason(ec);
    }
    if (!tunnel_error_.empty())
      ec_ = wsp::transport::asio::error::make_error_code(
          wsp::transport::asio::error::proxy_failed);
    callback(ec_);
  }

  void post_init(wsp::transport::init_handler callback) {
    // websocketpp goes on to post_init after a failed pre_init, whose
    // callback has already had the error.
    if (ec_)
      return;
#if WS_TLS
    if (tls_) {
      phase_ = Phase::tls;
      auto self = get_shared();
      tls_->async_handshake(is_server_ ? TlsStream::server : TlsStream::client,
                            [self, callback](const asio::error_code &ec) {
                              // websocketpp's own policy drops OpenSSL's
                              // reason; keep it.
                              if (ec) {
                                self->tls_ec_ = ec;
                                self->tls_error_ = ec.message();
                                // The peer hung up mid-handshake: for a client,
                                // usually a ws:// server that read our hello as
                                // a bad HTTP request.
                                if (!self->is_server_ &&
                                    (ec == asio::error::eof ||
                                     ec == asio::error::connection_reset ||
                                     ec == asio::ssl::error::stream_truncated))
                                  self->tls_error_ =
                                      "the server closed the connection "
                                      "without speaking TLS (is it a ws:// "
                                      "server?)";
                                self->ec_ = sock::make_error_code(
                                    sock::error::tls_handshake_failed);
                              }
                              self->phase_ = Phase::http;
                              callback(self->ec_);
                            });
      return;
    }
#endif
    phase_ = Phase::http;
    callback(wsp::lib::error_code());
  }

  void set_handle(wsp::connection_hdl hdl) { hdl_ = hdl; }
  wsp::lib::error_code get_ec() const { return ec_; }

  asio::error_code cancel_socket() {
    asio::error_code ec;
    stream_.tcp->cancel(ec);
    return ec;
  }

  /// Ends TCP in the background and tells websocketpp at once, so the
  /// close event never waits on the peer (RFC 6455 7.1.7: a failed
  /// connection is closed, not kept for the peer's answer). What is left,
  /// our close_notify or a lingering close, is bounded by linger_for.
  void async_shutdown(sock::shutdown_handler callback) {
    stream_.drop_waiting_read();
#if WS_TLS
    if (tls_) {
      // Send our close_notify without waiting for the peer's (RFC 8446
      // 6.1 allows it): websocketpp's read still pending on this stream
      // would swallow the peer's. The WebSocket close handshake already
      // marked the end.
      SSL *ssl = tls_->native_handle();
      SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
      linger();
      tls_->async_shutdown(
          [self = get_shared()](const asio::error_code &) { self->done(); });
      callback(asio::error_code());
      return;
    }
#endif
    // Closing a socket with unread data sends a reset, and the peer may then
    // lose our last frame: a client still sending a message over maxPayload
    // would see 1006 instead of our close 1009. So when the peer is still
    // sending, close as HTTP servers do ("lingering close"): send our FIN,
    // then read and drop what comes until the peer closes too.
    asio::error_code ec;
    if (stream_.tcp->available(ec) > 0 && !ec) {
      stream_.tcp->shutdown(Tcp::shutdown_send, ec);
      if (!ec) {
        linger();
        drain();
        callback(asio::error_code());
        return;
      }
    }
    // Also ends websocketpp's pending read (Linux: it reads end of stream).
    stream_.tcp->shutdown(Tcp::shutdown_both, ec);
    callback(asio::error_code());
#ifdef _WIN32
    // Winsock's shutdown leaves a pending receive pending until the peer
    // closes (seen under wine: a server failing a silent peer then waited
    // on it to exit); closing ends it with operation_aborted.
    done();
#endif
  }

  /// How long the end of TCP may take once the close event has fired: a
  /// peer that never reads or never closes is then dropped.
  static constexpr std::chrono::milliseconds linger_for{1000};

  void linger() {
    linger_timer_ = std::make_unique<asio::steady_timer>(*service_, linger_for);
    linger_timer_->async_wait(
        [self = get_shared()](const asio::error_code &ec) {
          if (!ec)
            self->done();
        });
  }

  void drain() {
    // What is read is dropped, so every connection can share one sink
    // (written only by the kernel).
    static char sink[4096];
    stream_.tcp->async_read_some(
        asio::buffer(sink),
        [self = get_shared()](const asio::error_code &ec, std::size_t) {
          if (!ec)
            return self->drain();
          self->done();
        });
  }

  /// The end of TCP is done, or took too long: closed, not just shut down.
  /// websocketpp's own read may still be pending on this socket, or be
  /// issued after ours took the end of the stream, and would then wait for
  /// ever (and ws::run() with it, and the connection's memory): closing
  /// ends it at once.
  void done() {
    linger_timer_.reset(); // cancels it
    asio::error_code ignored;
    stream_.tcp->close(ignored);
  }

public:
  template <class ErrorCode>
  static wsp::lib::error_code translate_ec(ErrorCode ec) {
#if WS_TLS
    if (ec.category() == asio::error::get_ssl_category())
      return wsp::transport::error::make_error_code(
          wsp::transport::error::tls_error);
#endif
    (void)ec;
    return wsp::transport::error::make_error_code(
        wsp::transport::error::pass_through);
  }
  static wsp::lib::error_code translate_ec(wsp::lib::error_code ec) {
    return ec;
  }

private:
  wsp::lib::error_code make_tls() {
#if WS_TLS
    std::shared_ptr<asio::ssl::context> context;
    if (tls_init_)
      context = tls_init_(hdl_);
    if (!context)
      return is_server_
                 ? wsp::lib::error_code()
                 : sock::make_error_code(sock::error::missing_tls_init_handler);
    context_ = context;
    tcp_.reset();
    tls_ = std::make_unique<TlsStream>(*service_, *context_);
    stream_.tcp = &tls_->next_layer();
    stream_.tls = tls_.get();
    return {};
#else
    return is_server_
               ? wsp::lib::error_code()
               : sock::make_error_code(sock::error::missing_tls_init_handler);
#endif
  }

  io_service_ptr service_ = nullptr;
  bool is_server_ = false;
  wsp::uri_ptr uri_;
  wsp::connection_hdl hdl_;
  wsp::lib::error_code ec_;
  std::string tls_error_;
  asio::error_code tls_ec_;
  std::unique_ptr<Tunnel> tunnel_;
  bool tunnel_asked_ = false;
  std::unique_ptr<asio::steady_timer> linger_timer_;
  Phase phase_ = Phase::http;
  std::unique_ptr<asio::steady_timer> opening_timer_;
  std::shared_ptr<asio::ip::tcp::resolver> resolver_;
  std::string tunnel_error_;
  int tunnel_status_ = 0;
  std::unique_ptr<Tcp> tcp_;
#if WS_TLS
  TlsInitHandler tls_init_;
  std::shared_ptr<asio::ssl::context> context_; // outlives tls_
  std::unique_ptr<TlsStream> tls_;
#endif
  Stream stream_;
};

/// Whether accept() failed for want of a descriptor or of memory: it fails
/// again at once until some are given back.
inline bool out_of_resources(const asio::error_code &ec) {
  // (Asio's system category does not compare equal to std::errc values.)
  return ec == asio::error::no_descriptors ||  // EMFILE
         ec == asio::error::no_buffer_space || // ENOBUFS
         ec == asio::error::no_memory ||       // ENOMEM
         ec == asio::error_code(ENFILE, asio::error::get_system_category());
}

/// The per-endpoint half: hands each new connection the endpoint's TLS
/// context source, and paces accepting when the process runs out of
/// descriptors.
class endpoint {
public:
  using type = endpoint;
  using socket_con_type = connection;
  using socket_con_ptr = connection::ptr;

  bool is_secure() const { return WS_TLS; }
#if WS_TLS
  void set_tls_init_handler(TlsInitHandler h) { tls_init_ = std::move(h); }
#endif

  /// accept() failed for want of resources (out_of_resources). websocketpp
  /// would accept again at once, fail at once, and so spin a core for as
  /// long as the shortage lasts; `next` (its handling of the failure, which
  /// accepts again) runs after a wait instead, 5 ms doubling to 1 s while
  /// the failures go on, as Go's net/http paces itself. The connections
  /// wait in the listen queue meanwhile, and are taken once descriptors
  /// are given back.
  void accept_later(asio::io_context &io, std::function<void()> next) {
    using std::chrono::milliseconds;
    accept_wait_ = accept_wait_.count() == 0
                       ? milliseconds(5)
                       : std::min(2 * accept_wait_, milliseconds(1000));
    if (!accept_timer_)
      accept_timer_ = std::make_unique<asio::steady_timer>(io);
    accept_timer_->expires_after(accept_wait_);
    // Destroyed with the endpoint, the timer ends the wait aborted: then
    // nothing runs (the endpoint and its acceptor are gone).
    accept_timer_->async_wait(
        [next = std::move(next)](const asio::error_code &ec) {
          if (!ec)
            next();
        });
  }
  /// accept() succeeded: the next shortage waits from 5 ms again.
  void accept_worked() { accept_wait_ = std::chrono::milliseconds(0); }

protected:
  wsp::lib::error_code init(socket_con_ptr con) {
#if WS_TLS
    con->set_tls_init_handler(tls_init_);
#else
    (void)con;
#endif
    return {};
  }

private:
#if WS_TLS
  TlsInitHandler tls_init_;
#endif
  std::chrono::milliseconds accept_wait_{0};
  std::unique_ptr<asio::steady_timer> accept_timer_;
};

} // namespace ws::detail::dual_socket
