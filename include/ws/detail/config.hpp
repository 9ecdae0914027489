// The websocketpp config ws runs (both roles, one connection type), and the
// members of websocketpp it replaces.
// SPDX-License-Identifier: MIT
#pragma once

#include "prelude.hpp"

#include <asio.hpp>
#include <websocketpp/client.hpp>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>
#include <websocketpp/server.hpp>

#include "../options.hpp"
#include "deflate.hpp"
#include "socket.hpp"

#include <memory>

namespace ws::detail {

class Core;
struct Counters;
struct ConnectionBase;

/// permessage-deflate as websocketpp's frame parser sees it: the extension
/// it keeps per connection (Config::permessage_deflate_type), asked to
/// negotiate and to decompress. websocketpp builds it with no way to reach
/// the connection's settings, so it is given its connection while the
/// parser is built (see connection<Config>::get_processor below), and the
/// negotiation itself is ours (deflate.hpp). Loop thread only.
class DeflateExtension {
public:
  using err_str_pair = std::pair<websocketpp::lib::error_code, std::string>;
  DeflateExtension();
  DeflateExtension(const DeflateExtension &) = delete;
  DeflateExtension &operator=(const DeflateExtension &) = delete;

  bool is_implemented() const { return true; }
  bool is_enabled() const { return enabled_; }
  websocketpp::lib::error_code init(bool) { return {}; }
  std::string generate_offer() const;
  err_str_pair negotiate(const websocketpp::http::attribute_list &);
  /// Our frames are compressed before websocketpp sees them (frame.hpp).
  websocketpp::lib::error_code compress(const std::string &, std::string &) {
    return websocketpp::processor::error::make_error_code(
        websocketpp::processor::error::general);
  }
  websocketpp::lib::error_code decompress(const std::uint8_t *data,
                                          std::size_t size, std::string &out);

  /// A compressed message has been read whole: with client (or, for a
  /// client, server) no context takeover the next starts with an empty
  /// window, so the decompressor (about 40 KiB) can go until then.
  void message_done() {
    if (peer_no_context_)
      inflater_.reset();
  }

  int our_mode = 0;    // what we compress with (see no_context_bit)
  std::string failure; // a client's: why the server's answer is invalid

private:
  ConnectionBase *base_;
  bool decided_ = false, enabled_ = false, peer_no_context_ = false;
  int peer_bits_ = 15;
  std::unique_ptr<Inflater> inflater_;
};

/// What every websocketpp connection carries for us (websocketpp makes it a
/// base of its connection class): the way back to the socket's core, so the
/// handlers need capture no more than the connection itself and websocketpp
/// stores them without a heap block of their own. A plain pointer, read and
/// cleared on the loop thread only: a core is only ever destroyed there, and
/// clears it then (see Core::~Core).
struct ConnectionBase {
  Core *core = nullptr;
  /// The core's counters (see Counters), kept as long as the connection
  /// and its queue of frames, which give back to them through plain
  /// pointers.
  std::shared_ptr<Counters> counters;
  /// permessage-deflate: what to offer (a client) or accept (a server);
  /// none: nothing. Set before the handshake.
  std::shared_ptr<const PerMessageDeflate> deflate_options;
  /// The extension in this connection's frame parser, once it is built.
  DeflateExtension *deflate = nullptr;
  /// The close frame websocketpp sent to fail the connection (a protocol
  /// error, text that is not UTF-8, a message over maxPayload, an invalid
  /// close frame from the peer): its code, 0 if none, and why.
  std::uint16_t failed_with = 0;
  std::string failed_why;
  bool answered_invalid_close = false;
};

/// How long a connection that failed waits for its close frame to be
/// written, when the peer does not read (the frame waits behind what is
/// queued): then TCP is closed anyway. Chromium closes at once; this gives
/// a peer that is merely slow the chance to learn why.
constexpr long failed_close_wait_ms = 1000;

/// The connection whose frame parser is being built (see get_processor).
inline thread_local ConnectionBase *building = nullptr;

inline DeflateExtension::DeflateExtension() : base_(building) {
  if (base_)
    base_->deflate = this;
}

/// websocketpp's stock asio config with its locks and strands removed: every
/// websocketpp call is made on the one loop thread (other threads post to
/// it), so its mutexes would only cost time. The same config serves both
/// roles, and one socket policy serves ws:// and wss://, so every connection
/// has one type.
struct Config : websocketpp::config::asio_client {
  using type = Config;
  using concurrency_type = websocketpp::concurrency::none;
  using elog_type =
      websocketpp::log::basic<concurrency_type, websocketpp::log::elevel>;
  using alog_type =
      websocketpp::log::basic<concurrency_type, websocketpp::log::alevel>;
  using rng_type =
      websocketpp::random::random_device::int_generator<uint32_t,
                                                        concurrency_type>;
  static const bool enable_multithreading = false;
  using connection_base = ConnectionBase;
  // Each read takes up to this much: a 64 KiB message in one read and one
  // pass through the frame parser instead of four (1.3-1.5x on large
  // messages). An idle connection touches only the first page of it, so
  // its resident memory does not grow.
  static const size_t connection_read_buffer_size = 65536;
  using permessage_deflate_type = DeflateExtension;

  struct transport_config : asio_client::transport_config {
    using concurrency_type = type::concurrency_type;
    using elog_type = type::elog_type;
    using alog_type = type::alog_type;
    static const bool enable_multithreading = false;
    // Plain TCP or TLS, chosen per connection.
    using socket_type = dual_socket::endpoint;
    // Off: one timer of ours bounds the whole opening handshake by
    // handshakeTimeout (dual_socket::connection::time_opening), where
    // websocketpp would time the TLS handshake by a compile-time constant.
    // The DNS lookup and the TCP connect are ours too (async_connect below).
    static const long timeout_socket_post_init = 0;
    // websocketpp's bound on ending TCP. dual_socket answers at once and
    // ends TCP in the background (its linger_for bounds that), so this
    // never fires.
    static const long timeout_socket_shutdown = 1000;
  };
  using transport_type =
      websocketpp::transport::asio::endpoint<transport_config>;
};

using ClientEndpoint = websocketpp::client<Config>;
using ServerEndpoint = websocketpp::server<Config>;
using Connection = websocketpp::connection<Config>;
using ConnectionPtr = Connection::ptr;
using Message = Config::message_type;
using MessagePtr = Message::ptr;
using Hdl = websocketpp::connection_hdl;

inline std::string DeflateExtension::generate_offer() const {
  const auto &o = base_ ? base_->deflate_options : nullptr;
  return o && o->enabled ? deflate_offer(*o) : "";
}

inline DeflateExtension::err_str_pair
DeflateExtension::negotiate(const websocketpp::http::attribute_list &) {
  const auto declined = websocketpp::error::make_error_code(
      websocketpp::error::extension_neg_failed);
  // websocketpp calls this once per permessage-deflate element, with its
  // parameters in a map; the whole header, read once, is what counts.
  if (decided_ || !base_)
    return {declined, ""};
  decided_ = true;
  const auto &con = static_cast<const Connection &>(*base_);
  const auto &options = base_->deflate_options;
  DeflateParams agreed;
  std::string answer;
  if (con.is_server()) {
    if (!options || !options->enabled)
      return {declined, ""};
    auto offers =
        parse_extensions(con.get_request_header("Sec-WebSocket-Extensions"));
    auto accepted = offers ? accept_offer(*offers, *options) : std::nullopt;
    if (!accepted)
      return {declined, ""};
    agreed = *accepted;
    answer = deflate_header(agreed);
  } else {
    // Never refused here: websocketpp would open the connection anyway.
    // Core::handle_open fails it with `failure`.
    auto [checked, why] =
        check_answer(con.get_response_header("Sec-WebSocket-Extensions"),
                     options ? *options : PerMessageDeflate());
    if (!checked) {
      failure = why;
      return {{}, ""};
    }
    agreed = *checked;
  }
  enabled_ = true;
  const bool server = con.is_server();
  int our_bits =
      server ? agreed.server_max_window_bits : agreed.client_max_window_bits;
  our_bits = our_bits > 0 ? our_bits : 15;
  // zlib cannot compress with a window of 8 bits: then we send every
  // message uncompressed, which the RFC allows.
  if (our_bits >= 9)
    our_mode = our_bits | ((server ? agreed.server_no_context_takeover
                                   : agreed.client_no_context_takeover)
                               ? no_context_bit
                               : 0);
  const int peer_bits =
      server ? agreed.client_max_window_bits : agreed.server_max_window_bits;
  peer_bits_ = peer_bits >= 9 ? peer_bits : peer_bits == 8 ? 9 : 15;
  peer_no_context_ = server ? agreed.client_no_context_takeover
                            : agreed.server_no_context_takeover;
  return {{}, answer};
}

inline websocketpp::lib::error_code
DeflateExtension::decompress(const std::uint8_t *data, std::size_t size,
                             std::string &out) {
  if (!inflater_)
    inflater_ = std::make_unique<Inflater>(peer_bits_);
  const auto &con = static_cast<const Connection &>(*base_);
  return inflater_->inflate_into(data, size, out, con.get_max_message_size());
}

} // namespace ws::detail

namespace websocketpp {

/// websocketpp's own, with the connection made known to the extension its
/// parser builds (see DeflateExtension). An explicit specialization of one
/// member for our config: websocketpp has no hook for it.
template <>
inline connection<ws::detail::Config>::processor_ptr
connection<ws::detail::Config>::get_processor(int version) const {
  // The connection is built non-const; websocketpp asks from a const member.
  ws::detail::building = const_cast<connection *>(this);
  processor_ptr p;
  using C = ws::detail::Config;
  switch (version) {
  case 0:
    p = lib::make_shared<processor::hybi00<C>>(transport_con_type::is_secure(),
                                               m_is_server, m_msg_manager);
    break;
  case 7:
    p = lib::make_shared<processor::hybi07<C>>(transport_con_type::is_secure(),
                                               m_is_server, m_msg_manager,
                                               lib::ref(m_rng));
    break;
  case 8:
    p = lib::make_shared<processor::hybi08<C>>(transport_con_type::is_secure(),
                                               m_is_server, m_msg_manager,
                                               lib::ref(m_rng));
    break;
  case 13:
    p = lib::make_shared<processor::hybi13<C>>(transport_con_type::is_secure(),
                                               m_is_server, m_msg_manager,
                                               lib::ref(m_rng));
    break;
  }
  ws::detail::building = nullptr;
  if (!p)
    return p;
  p->set_max_message_size(m_max_message_size);
  return p;
}

/// websocketpp's check of a frame's first two bytes, with one rule added:
/// RFC 7692 6.1 fails a continuation frame with RSV1 set, which
/// websocketpp lets through once permessage-deflate is on.
template <>
inline lib::error_code
processor::hybi13<ws::detail::Config>::validate_incoming_basic_header(
    frame::basic_header const &h, bool is_server, bool new_msg) const {
  frame::opcode::value op = frame::get_opcode(h);
  if (frame::opcode::is_control(op) &&
      frame::get_basic_size(h) > frame::limits::payload_size_basic)
    return make_error_code(error::control_too_big);
  if (frame::get_rsv1(h) &&
      (!m_permessage_deflate.is_enabled() || frame::opcode::is_control(op) ||
       op == frame::opcode::continuation))
    return make_error_code(error::invalid_rsv_bit);
  if (frame::get_rsv2(h) || frame::get_rsv3(h))
    return make_error_code(error::invalid_rsv_bit);
  if (frame::opcode::reserved(op) || frame::opcode::invalid(op))
    return make_error_code(error::invalid_opcode);
  if (frame::opcode::is_control(op) && !frame::get_fin(h))
    return make_error_code(error::fragmented_control);
  if (new_msg && op == frame::opcode::continuation)
    return make_error_code(error::invalid_continuation);
  if (!new_msg && !frame::opcode::is_control(op) &&
      op != frame::opcode::continuation)
    return make_error_code(error::invalid_continuation);
  if (is_server && !frame::get_masked(h))
    return make_error_code(error::masking_required);
  if (!is_server && frame::get_masked(h))
    return make_error_code(error::masking_forbidden);
  return lib::error_code();
}

/// The client's DNS lookup and TCP connect, as websocketpp's own but for its
/// timers: each has a compile-time limit (5 s) and, once it has fired, keeps
/// the connection alive until the other has; here the opening timer bounds
/// both (it cancels the lookup, of this connection only, and closes the
/// socket). To the proxy when there is one: the tunnel is ours
/// (dual_socket::Tunnel).
template <>
inline void
transport::asio::endpoint<ws::detail::Config::transport_config>::async_connect(
    transport_con_ptr tcon, uri_ptr u, connect_handler cb) {
  namespace ip = lib::asio::ip;
  tcon->set_uri(u);
  std::string host = u->get_host();
  std::string port = u->get_port_str();
  const std::string proxy = tcon->get_proxy();
  if (!proxy.empty()) {
    const uri_ptr pu = lib::make_shared<uri>(proxy);
    if (!pu->get_valid()) {
      cb(make_error_code(error::proxy_invalid));
      return;
    }
    host = pu->get_host();
    port = pu->get_port_str();
  }
  auto resolver = std::make_shared<ip::tcp::resolver>(*m_io_service);
  tcon->set_resolver(resolver);
  tcon->set_phase(ws::detail::dual_socket::Phase::dns);
  resolver->async_resolve(
      host, port,
      [tcon, resolver, cb](const lib::asio::error_code &ec,
                           const ip::tcp::resolver::results_type &found) {
        tcon->set_resolver(nullptr);
        if (ec) {
          cb(socket_con_type::translate_ec(ec));
          return;
        }
        tcon->set_phase(ws::detail::dual_socket::Phase::tcp);
        lib::asio::async_connect(tcon->get_raw_socket(), found,
                                 [tcon, cb](const lib::asio::error_code &cec,
                                            const ip::tcp::endpoint &) {
                                   cb(cec ? socket_con_type::translate_ec(cec)
                                          : lib::error_code());
                                 });
      });
}

/// websocketpp's answer to the peer's close frame. Answering an invalid one
/// (with 1002) fails the connection, and RFC 6455 7.1.7 then closes TCP as
/// soon as the frame is out, in both roles; websocketpp's client would wait
/// for the server to close it, up to closeTimeout, and then report what the
/// peer sent as a clean close. A valid close frame is answered as before: a
/// client leaves the end of TCP to the server (RFC 6455 7.1.1), and a
/// close frame with no code is answered with none, as Node's ws and
/// Chromium answer it (websocketpp answers 1000): the side that closed
/// with no code then reports 1005, as the WPT echo server makes it.
template <>
inline lib::error_code
connection<ws::detail::Config>::send_close_ack(close::status::value code,
                                               std::string const &reason) {
  if (code == close::status::blank &&
      m_remote_close_code == close::status::no_status)
    return send_close_frame(close::status::no_status, "", true, m_is_server);
  if (code == close::status::blank)
    return send_close_frame(code, reason, true, m_is_server);
  failed_with = code;
  failed_why = reason;
  answered_invalid_close = true;
  const long keep = m_close_handshake_timeout_dur;
  m_close_handshake_timeout_dur = ws::detail::failed_close_wait_ms;
  const lib::error_code ec = send_close_frame(code, reason, true, true);
  m_close_handshake_timeout_dur = keep;
  return ec;
}

/// websocketpp's close(), which it also calls to fail the connection (with
/// 1002, 1007, 1009 or 1011, each a terminal frame: TCP ends once it is
/// written). Such a close is recorded, so the close event can tell it
/// from an ordinary one, and it waits at most failed_close_wait_ms for the
/// frame to be written, not closeTimeout.
template <>
inline void
connection<ws::detail::Config>::close(close::status::value const code,
                                      std::string const &reason,
                                      lib::error_code &ec) {
  const std::string tr(
      reason, 0,
      std::min<size_t>(reason.size(), frame::limits::close_reason_size));
  if (m_state != session::state::open) {
    ec = error::make_error_code(error::invalid_state);
    return;
  }
  const bool failing = code == close::status::protocol_error ||
                       code == close::status::invalid_payload ||
                       code == close::status::message_too_big ||
                       code == close::status::internal_endpoint_error;
  if (!failing) {
    ec = send_close_frame(code, tr, false, close::status::terminal(code));
    return;
  }
  failed_with = code;
  failed_why = reason;
  const long keep = m_close_handshake_timeout_dur;
  m_close_handshake_timeout_dur = ws::detail::failed_close_wait_ms;
  ec = send_close_frame(code, tr, false, true);
  m_close_handshake_timeout_dur = keep;
}

/// websocketpp's own, paced when accept() fails for want of descriptors or
/// memory (see dual_socket::endpoint::accept_later).
template <>
inline void
transport::asio::endpoint<ws::detail::Config::transport_config>::handle_accept(
    accept_handler callback, lib::asio::error_code const &asio_ec) {
  if (!asio_ec) {
    socket_type::accept_worked();
    callback(lib::error_code());
    return;
  }
  // The listening stopped. (websocketpp compares with std::errc, which
  // Asio's system category never equals, and so took it for a failure.)
  if (asio_ec == lib::asio::error::operation_aborted) {
    callback(make_error_code(websocketpp::error::operation_canceled));
    return;
  }
  log_err(log::elevel::info, "asio handle_accept", asio_ec);
  const lib::error_code ec = socket_con_type::translate_ec(asio_ec);
  if (ws::detail::dual_socket::out_of_resources(asio_ec))
    socket_type::accept_later(*m_io_service, [callback, ec] { callback(ec); });
  else
    callback(ec);
}

// websocketpp writes a line to its access log as each connection opens,
// fails, closes or answers plain HTTP, and builds it (a stringstream, the
// peer's address from the kernel, a header lookup) before it asks whether
// the log wants it; ours is off unless ServerOptions::log. These are its
// own, asking first: the server CPU per connection set up falls by about
// 8% (bench --only setup).

template <> inline void connection<ws::detail::Config>::log_open_result() {
  if (!m_alog->dynamic_test(log::alevel::connect))
    return;
  const bool websocket = processor::is_websocket_handshake(m_request);
  std::stringstream s;
  s << (websocket ? "WebSocket" : "HTTP") << " Connection "
    << transport_con_type::get_remote_endpoint() << " ";
  if (websocket)
    s << "v" << processor::get_websocket_version(m_request) << " ";
  s << "\"" << m_request.get_header("User-Agent") << "\" "
    << (m_uri ? m_uri->get_resource() : "NULL") << " "
    << m_response.get_status_code();
  m_alog->write(log::alevel::connect, s.str());
}

template <> inline void connection<ws::detail::Config>::log_close_result() {
  if (!m_alog->dynamic_test(log::alevel::disconnect))
    return;
  std::stringstream s;
  s << "Disconnect close local:[" << m_local_close_code
    << (m_local_close_reason.empty() ? "" : "," + m_local_close_reason)
    << "] remote:[" << m_remote_close_code
    << (m_remote_close_reason.empty() ? "" : "," + m_remote_close_reason)
    << "]";
  m_alog->write(log::alevel::disconnect, s.str());
}

template <> inline void connection<ws::detail::Config>::log_fail_result() {
  // Not for the accept a server had waiting when it stopped listening:
  // that was never a connection.
  if (!m_alog->dynamic_test(log::alevel::fail) ||
      m_ec == websocketpp::error::operation_canceled)
    return;
  std::stringstream s;
  s << "WebSocket Connection " << transport_con_type::get_remote_endpoint()
    << " v" << processor::get_websocket_version(m_request) << " \""
    << m_request.get_header("User-Agent") << "\" "
    << (m_uri ? m_uri->get_resource() : "-") << " "
    << m_response.get_status_code() << " " << m_ec << " " << m_ec.message();
  m_alog->write(log::alevel::fail, s.str());
}

template <> inline void connection<ws::detail::Config>::log_http_result() {
  if (!m_alog->dynamic_test(log::alevel::http) ||
      processor::is_websocket_handshake(m_request))
    return;
  std::stringstream s;
  s << m_request.get_header("host") << " "
    << transport_con_type::get_remote_endpoint() << " \""
    << m_request.get_method() << " " << (m_uri ? m_uri->get_resource() : "-")
    << " " << m_request.get_version() << "\" " << m_response.get_status_code()
    << " " << m_response.get_body().size();
  m_alog->write(log::alevel::http, s.str());
}

} // namespace websocketpp
