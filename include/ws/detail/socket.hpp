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

#include <websocketpp/common/asio.hpp>
#include <websocketpp/common/connection_hdl.hpp>
#include <websocketpp/transport/asio/security/base.hpp>
#include <websocketpp/uri.hpp>
#if WS_TLS
#include <websocketpp/common/asio_ssl.hpp>
#endif

#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

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
  /// Why the TLS handshake failed, as OpenSSL said it ("" if it did not).
  const std::string &tls_error() const { return tls_error_; }

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
#if WS_TLS
    if (ec_ || (!is_server_ && uri_ && uri_->get_secure() && !tls_)) {
      callback(
          ec_ ? ec_
              : sock::make_error_code(sock::error::missing_tls_init_handler));
      return;
    }
    if (tls_ && !is_server_) {
      // SNI names a host, never an address (RFC 6066 3).
      const std::string &host = uri_->get_host();
      asio::error_code aec;
      asio::ip::make_address(host, aec);
      if (aec &&
          SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str()) != 1) {
        callback(sock::make_error_code(sock::error::tls_failed_sni_hostname));
        return;
      }
    }
#endif
    callback(ec_);
  }

  void post_init(wsp::transport::init_handler callback) {
#if WS_TLS
    if (tls_) {
      auto self = get_shared();
      tls_->async_handshake(is_server_ ? TlsStream::server : TlsStream::client,
                            [self, callback](const asio::error_code &ec) {
                              // websocketpp's own policy drops OpenSSL's
                              // reason; keep it.
                              if (ec) {
                                self->tls_error_ = ec.message();
                                // The peer hung up mid-handshake: for a
                                // client, usually a ws:// server that read
                                // our hello as a bad HTTP request.
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
                              callback(self->ec_);
                            });
      return;
    }
#endif
    callback(wsp::lib::error_code());
  }

  void set_handle(wsp::connection_hdl hdl) { hdl_ = hdl; }
  wsp::lib::error_code get_ec() const { return ec_; }

  asio::error_code cancel_socket() {
    asio::error_code ec;
    stream_.tcp->cancel(ec);
    return ec;
  }

  void async_shutdown(sock::shutdown_handler callback) {
#if WS_TLS
    if (tls_) {
      // Send our close_notify without waiting for the peer's (RFC 8446
      // 6.1 allows it): websocketpp's read still pending on this stream
      // would swallow the peer's, and the shutdown would then sit out its
      // whole timeout. The WebSocket close handshake already marked the end.
      SSL *ssl = tls_->native_handle();
      SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
      tls_->async_shutdown(callback);
      return;
    }
#endif
    // Closing a socket with unread data sends a reset, and the peer may then
    // lose our last frame: a client still sending a message over maxPayload
    // would see 1006 instead of our close 1009. So when the peer is still
    // sending, close as HTTP servers do ("lingering close"): send our FIN,
    // then read and drop what comes until the peer closes too.
    // websocketpp's shutdown timer (timeout_socket_shutdown) bounds the wait.
    asio::error_code ec;
    if (stream_.tcp->available(ec) > 0 && !ec) {
      stream_.tcp->shutdown(Tcp::shutdown_send, ec);
      if (!ec)
        return drain(std::move(callback));
    }
    stream_.tcp->shutdown(Tcp::shutdown_both, ec);
    callback(ec);
  }

  void drain(sock::shutdown_handler callback) {
    // What is read is dropped, so every connection can share one sink
    // (written only by the kernel).
    static char sink[4096];
    auto self = get_shared();
    stream_.tcp->async_read_some(
        asio::buffer(sink),
        [self, callback](const asio::error_code &ec, std::size_t) {
          if (!ec)
            return self->drain(callback);
          // Closed, not just shut down: websocketpp's own read may still
          // be pending on this socket, or be issued after this one took
          // the end of the stream, and would then wait for ever (and
          // ws::run() with it). Closing ends it at once.
          asio::error_code ignored;
          self->stream_.tcp->close(ignored);
          callback(ec == asio::error::eof ? asio::error_code() : ec);
        });
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
  std::unique_ptr<Tcp> tcp_;
#if WS_TLS
  TlsInitHandler tls_init_;
  std::shared_ptr<asio::ssl::context> context_; // outlives tls_
  std::unique_ptr<TlsStream> tls_;
#endif
  Stream stream_;
};

/// The per-endpoint half: hands each new connection the endpoint's TLS
/// context source.
class endpoint {
public:
  using type = endpoint;
  using socket_con_type = connection;
  using socket_con_ptr = connection::ptr;

  bool is_secure() const { return WS_TLS; }
#if WS_TLS
  void set_tls_init_handler(TlsInitHandler h) { tls_init_ = std::move(h); }
#endif

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
};

} // namespace ws::detail::dual_socket
