// Definitions for web_socket.hpp and for the core behind it.
// SPDX-License-Identifier: MIT
#pragma once

#include "../detail/core.hpp"
#include "../errors.hpp"

#include <algorithm>
#include <stdexcept>

namespace ws {
namespace detail {

namespace close_status = websocketpp::close::status;

inline void Core::start_client() {
  // close() or ~WebSocket() ran before the loop got here.
  if (ready_state.load() != WebSocket::CONNECTING) {
    finish("WebSocket is closed before the connection is established.",
           CloseCode::abnormalClosure, "", false);
    return;
  }
  websocketpp::lib::error_code ec;
  auto c = client_endpoint().get_connection(parsed.for_websocketpp(), ec);
  if (ec) {
    finish(ec.message(), CloseCode::abnormalClosure, "", false);
    return;
  }
  for (const auto &p : offered)
    c->add_subprotocol(p, ec);
  c->set_max_message_size(static_cast<std::size_t>(limits.max_payload));
  c->set_open_handshake_timeout(limits.handshake_timeout.count());
  c->set_close_handshake_timeout(limits.close_timeout.count());
  attach(c);
#if WS_TLS
  // Asked for when connect() gives the connection its URL.
  c->set_tls_init_handler([ctx = tls](Hdl) { return ctx; });
#endif
  client_endpoint().connect(c);
#if WS_TLS
  // connect() made the TLS stream; the handshake waits for TCP.
  if (c->native_tls())
    verify_peer(c->native_tls(), parsed.host, verify);
#endif
}

inline void Core::attach(const ConnectionPtr &c) {
  con = c;
  // Weak: a destroyed WebSocket's events go nowhere, and no cycle keeps the
  // connection alive.
  std::weak_ptr<Core> self = shared_from_this();
  c->set_open_handler([self](Hdl) {
    if (auto s = self.lock())
      s->handle_open();
  });
  c->set_message_handler([self](Hdl, MessagePtr msg) {
    if (auto s = self.lock())
      s->handle_message(msg);
  });
  c->set_close_handler([self](Hdl) {
    if (auto s = self.lock())
      s->handle_close();
  });
  c->set_fail_handler([self](Hdl) {
    if (auto s = self.lock())
      s->handle_fail();
  });
  c->set_ping_handler([self](Hdl, std::string payload) {
    auto s = self.lock();
    return s && s->answer_ping(payload);
  });
  c->set_pong_handler([self](Hdl, std::string) {
    if (auto s = self.lock())
      s->awaiting_pong = false;
  });
}

inline void Core::start_heartbeat() {
  if (limits.ping_interval.count() <= 0)
    return;
  if (!heartbeat)
    heartbeat = std::make_unique<asio::steady_timer>(loop().ctx);
  heartbeat->expires_after(limits.ping_interval);
  std::weak_ptr<Core> self = shared_from_this();
  heartbeat->async_wait([self](const asio::error_code &ec) {
    if (auto s = self.lock(); s && !ec)
      s->beat();
  });
}

/// One heartbeat: the last ping must have its pong by now.
inline void Core::beat() {
  // Once closing, closeTimeout bounds the wait instead.
  if (finished || !con || ready_state.load() != WebSocket::OPEN)
    return;
  if (awaiting_pong) {
    failing = true;
    fail_message = "No pong came back within " +
                   std::to_string(limits.ping_interval.count()) +
                   " ms: the connection is dead.";
    con->terminate(websocketpp::lib::error_code());
    return;
  }
  awaiting_pong = true;
  websocketpp::lib::error_code ignored;
  con->ping("", ignored);
  start_heartbeat();
}

/// websocketpp would queue a pong for every ping, so a peer that sends pings
/// and never reads could grow our queue without end. RFC 6455 5.5.3 lets one
/// pong answer several pings: while one is still queued, later pings get
/// none. Returns false: websocketpp sends nothing itself.
inline bool Core::answer_ping(const std::string &payload) {
  if (!con || pongs->load() > 0)
    return false;
  auto pong = make_frame(websocketpp::frame::opcode::pong, payload.data(),
                         payload.size(), !is_server, pongs, 1);
  con->send(pong); // refused once closing: then no pong is owed
  return false;
}

/// Hands a framed message to websocketpp, on the loop thread. A peer that has
/// not taken what is already queued past the limit is closed with 1008 and
/// the message dropped: one slow reader cannot use up the server's memory.
inline void Core::queue(const MessagePtr &msg, std::size_t size) {
  websocketpp::lib::error_code ec =
      websocketpp::error::make_error_code(websocketpp::error::invalid_state);
  const std::uint64_t before = buffered->load() - size;
  if (limits.max_buffered && before > limits.max_buffered && con) {
    unsigned short s = WebSocket::OPEN;
    if (ready_state.compare_exchange_strong(s, WebSocket::CLOSING))
      begin_close(close_status::policy_violation,
                  "Too much data waiting: the peer is not reading.");
  } else if (con) {
    ec = con->send(msg);
  }
  // Closed before it could be queued: counted but never sent, as send()
  // does once closing.
  if (ec)
    buffered->fetch_add(size);
}

inline void Core::handle_open() {
  // websocketpp accepts any subprotocol and extension the server names; a
  // browser fails the connection unless the server chose one it offered
  // (WHATWG "establish a WebSocket connection"; Chromium also fails when it
  // offered some and the server chose none).
  const std::string chosen = con->get_response_header("Sec-WebSocket-Protocol");
  if ((!chosen.empty() || !offered.empty()) &&
      std::find(offered.begin(), offered.end(), chosen) == offered.end()) {
    fail_connection(
        chosen.empty()
            ? "Error during WebSocket handshake: Sent non-empty "
              "'Sec-WebSocket-Protocol' header but no response was received"
            : "Error during WebSocket handshake: 'Sec-WebSocket-Protocol' "
              "header value '" +
                  chosen + "' in response does not match any of sent values",
        close_status::blank);
    return;
  }
  const std::string ext = con->get_response_header("Sec-WebSocket-Extensions");
  if (!ext.empty()) {
    fail_connection("Error during WebSocket handshake: the server chose "
                    "extensions that were not offered: " +
                        ext,
                    close_status::blank);
    return;
  }
  protocol = chosen;
  asio::error_code ignored;
  con->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  unsigned short expected = WebSocket::CONNECTING;
  // close() from another thread may have won; its abort is already queued.
  if (ready_state.compare_exchange_strong(expected, WebSocket::OPEN)) {
    start_heartbeat();
    fire_open();
  }
}

inline void Core::handle_message(const MessagePtr &msg) {
  // WHATWG "a WebSocket message has been received": dropped unless OPEN.
  if (ready_state.load() != WebSocket::OPEN)
    return;
  const bool binary = msg->get_opcode() == websocketpp::frame::opcode::binary;
  if (!binary && !utf8_ends_complete(msg->get_payload())) {
    fail_connection("Could not decode a text frame as UTF-8.",
                    close_status::invalid_payload);
    return;
  }
  MessageEvent e;
  e.type = "message";
  e.data = std::move(msg->get_raw_payload());
  e.isBinary = binary;
  fire_message(e);
}

inline void Core::handle_close() {
  if (finished)
    return;
  if (failing) {
    finish(fail_message, CloseCode::abnormalClosure, "", false);
    return;
  }
  const std::string local_reason = con->get_local_close_reason();
  if (is_library_failure(con->get_local_close_code(), local_reason,
                         con->get_remote_close_code())) {
    finish(local_reason, CloseCode::abnormalClosure, "", false);
    return;
  }
  const auto remote = con->get_remote_close_code();
  if (remote == close_status::abnormal_close) {
    // No close frame came. After our own close() that is a timeout, not an
    // error; otherwise the connection dropped under us.
    std::string why;
    if (!we_closed) {
      auto ec = con->get_ec();
      why = ec ? ec.message()
               : "The connection was closed without a close frame.";
    }
    finish(why, CloseCode::abnormalClosure, "", false);
    return;
  }
  finish("", remote, con->get_remote_close_reason(), true);
}

inline void Core::handle_fail() {
  if (finished)
    return;
  std::string message = fail_message;
  if (!failing) {
    const int status = con->get_response_code();
    if (status != 0 && status != 101)
      message = "Error during WebSocket handshake: Unexpected response code: " +
                std::to_string(status);
#if WS_TLS
    else if (!con->tls_error().empty())
      message = verify ? tls_failure(con->native_tls(), con->tls_error())
                       : "TLS handshake failed: " + con->tls_error();
#endif
    else
      message = con->get_ec().message();
  }
  finish(message, CloseCode::abnormalClosure, "", false);
}

/// RFC 6455 7.1.7 "Fail the WebSocket Connection": a close frame with `code`
/// when the connection is established (blank: drop it, as a browser does
/// during the handshake), then error and close 1006.
inline void Core::fail_connection(const std::string &message,
                                  close_status::value code) {
  failing = true;
  fail_message = message;
  if (code == close_status::blank) {
    // Not from inside websocketpp's own open handler: it goes on reading.
    asio::post(loop().ctx,
               [c = con] { c->terminate(websocketpp::lib::error_code()); });
    return;
  }
  websocketpp::lib::error_code ec;
  con->close(code, message, ec);
  if (ec)
    con->terminate(websocketpp::lib::error_code());
}

inline void Core::begin_close(std::uint16_t code, const std::string &reason) {
  we_closed = true;
  if (!con)
    return;
  // Fails only if a close is already under way; its close event will come.
  websocketpp::lib::error_code ignored;
  con->close(code ? code : close_status::blank, reason, ignored);
}

inline void Core::abort_connecting() {
  if (finished || !con)
    return; // start_client() saw the state and finished already
  failing = true;
  fail_message = "WebSocket is closed before the connection is established.";
  con->terminate(websocketpp::lib::error_code());
}

inline void Core::finish(const std::string &error, std::uint16_t code,
                         const std::string &reason, bool clean) {
  finished = true;
  ready_state = WebSocket::CLOSED;
  heartbeat.reset(); // cancels the wait
  // The handlers must not outlive this: they hold the only way back to us.
  auto keep = shared_from_this();
  if (!error.empty())
    fire_error(error);
  fire_close(code, reason, clean);
  con.reset();
  if (on_finished)
    on_finished();
}

template <class E, class H> void Core::fire(E &event, H WebSocket::*handler) {
  std::lock_guard<std::recursive_mutex> lock(owner_mutex);
  WebSocket *target = owner;
  if (!target)
    return;
  event.target = target;
  // A copy: the handler may destroy its own socket, and with it the original.
  auto h = target->*handler;
  if (h)
    guarded([&] { h(event); });
  if (owner == target)
    target->dispatch_listeners(event);
}

inline void Core::fire_open() {
  Event e;
  e.type = "open";
  fire(e, &WebSocket::onopen);
}

inline void Core::fire_message(MessageEvent &e) {
  fire(e, &WebSocket::onmessage);
}

inline void Core::fire_error(const std::string &message) {
  ErrorEvent e;
  e.type = "error";
  e.message = message;
  fire(e, &WebSocket::onerror);
}

inline void Core::fire_close(std::uint16_t code, const std::string &reason,
                             bool clean) {
  CloseEvent e;
  e.type = "close";
  e.code = code;
  e.reason = reason;
  e.wasClean = clean;
  fire(e, &WebSocket::onclose);
}

} // namespace detail

inline WebSocket::WebSocket(const std::string &url, std::string_view protocol)
    : WebSocket(url, std::vector<std::string>{std::string(protocol)}) {}

inline WebSocket::WebSocket(const std::string &url,
                            const std::vector<std::string> &protocols)
    : WebSocket(url, protocols, ClientOptions()) {}

inline WebSocket::WebSocket(const std::string &url,
                            const std::vector<std::string> &protocols,
                            const ClientOptions &options)
    : core_(std::make_shared<detail::Core>(false)) {
  // Constructor steps 1-5: parse the URL (SyntaxError).
  core_->parsed = detail::parse_websocket_url(url);
  if (core_->parsed.scheme == "wss") {
#if WS_TLS
    core_->tls = detail::client_context(options.caFile);
    core_->verify = options.rejectUnauthorized;
    if (!core_->verify)
      detail::warn_unverified(core_->parsed.href);
#else
    (void)options;
    throw NotSupportedError(
        "Failed to construct 'WebSocket': wss:// needs TLS, which was not "
        "built into ws (build with OpenSSL: the meson option tls, or define "
        "WS_TLS=1 and link -lssl -lcrypto).");
#endif
  }
  // Steps 6-7: every protocol a token, none twice.
  for (std::size_t i = 0; i < protocols.size(); ++i) {
    if (!detail::is_token(protocols[i]))
      throw SyntaxError("Failed to construct 'WebSocket': The subprotocol '" +
                        protocols[i] + "' is invalid.");
    for (std::size_t j = 0; j < i; ++j)
      if (protocols[j] == protocols[i])
        throw SyntaxError("Failed to construct 'WebSocket': The subprotocol '" +
                          protocols[i] + "' is duplicated.");
  }
  core_->url = core_->parsed.href;
  core_->offered = protocols;
  core_->limits.max_payload = options.maxPayload;
  core_->limits.handshake_timeout = options.handshakeTimeout;
  core_->limits.close_timeout = options.closeTimeout;
  core_->limits.ping_interval = options.pingInterval;
  core_->owner = this;
  // Step 8 runs "in parallel": on the loop, after this code has had its
  // chance to assign handlers.
  asio::post(detail::loop().ctx, [core = core_] { core->start_client(); });
}

inline WebSocket::WebSocket(std::shared_ptr<detail::Core> core)
    : core_(std::move(core)) {
  core_->owner = this;
}

inline WebSocket::~WebSocket() {
  detail::Core &c = *core_;
  {
    std::lock_guard<std::recursive_mutex> lock(c.owner_mutex);
    c.owner = nullptr;
  }
  unsigned short s = c.ready_state.load();
  while ((s == CONNECTING || s == OPEN) &&
         !c.ready_state.compare_exchange_weak(s, CLOSING)) {
  }
  // Posted, never inline: we may be inside one of this socket's handlers.
  if (s == CONNECTING)
    asio::post(detail::loop().ctx,
               [core = core_] { core->abort_connecting(); });
  else if (s == OPEN)
    asio::post(detail::loop().ctx,
               [core = core_] { core->begin_close(CloseCode::goingAway, ""); });
}

inline WebSocket::ListenerId
WebSocket::add_listener(const std::string &type, const char *wanted,
                        std::function<void(const Event &)> fn) {
  if (wanted && type != wanted)
    throw std::invalid_argument("addEventListener: a listener for '" +
                                std::string(wanted) +
                                "' events cannot listen for '" + type + "'");
  if (!fn)
    return 0; // DOM: a null listener is ignored
  listeners_.push_back({type, next_listener_, std::move(fn)});
  return next_listener_++;
}

inline void WebSocket::removeEventListener(const std::string &type,
                                           ListenerId id) {
  listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(),
                                  [&](const Listener &l) {
                                    return l.id == id && l.type == type;
                                  }),
                   listeners_.end());
}

template <class E> void WebSocket::dispatch_listeners(const E &event) {
  if (listeners_.empty())
    return;
  // DOM dispatch: the listeners present now, in order; one removed by an
  // earlier listener does not run, one added does not run this time.
  std::vector<ListenerId> ids;
  for (const auto &l : listeners_)
    if (l.type == event.type)
      ids.push_back(l.id);
  detail::Core &c = *core_;
  for (ListenerId id : ids) {
    auto it = std::find_if(listeners_.begin(), listeners_.end(),
                           [&](const Listener &l) { return l.id == id; });
    if (it == listeners_.end())
      continue;
    auto fn = it->fn;
    detail::guarded([&] { fn(event); });
    if (c.owner != this)
      return; // a listener destroyed this socket
  }
}

inline void WebSocket::send(std::string_view text) {
  // A JS string always converts to UTF-8; a std::string may not be UTF-8,
  // and a text frame must be (RFC 6455 5.6).
  if (!detail::valid_utf8(text) && readyState() != CONNECTING)
    throw SyntaxError("Failed to execute 'send' on 'WebSocket': The message "
                      "is not valid UTF-8; send it as ws::Binary instead.");
  send_frame(websocketpp::frame::opcode::text, text.data(), text.size());
}

inline void WebSocket::send(std::string_view data, SendOptions options) {
  if (options.binary)
    send_frame(websocketpp::frame::opcode::binary, data.data(), data.size());
  else
    send(data);
}

inline void WebSocket::send(const Binary &data) {
  send_frame(websocketpp::frame::opcode::binary,
             reinterpret_cast<const char *>(data.data()), data.size());
}

inline void WebSocket::send_frame(int opcode, const char *data,
                                  std::size_t size) {
  detail::Core &c = *core_;
  const unsigned short s = c.ready_state.load();
  // send() step 1.
  if (s == CONNECTING)
    throw InvalidStateError(
        "Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.");
  // Steps 2-3: once closing, nothing is sent but bufferedAmount still grows.
  if (s != OPEN) {
    c.buffered->fetch_add(size);
    return;
  }
  auto msg =
      detail::make_frame(static_cast<websocketpp::frame::opcode::value>(opcode),
                         data, size, !c.is_server, c.buffered);
  // On the loop (a handler answering), straight in; else posted to it.
  if (detail::loop().ctx.get_executor().running_in_this_thread())
    c.queue(msg, size);
  else
    asio::post(detail::loop().ctx, [core = core_, msg = std::move(msg), size] {
      core->queue(msg, size);
    });
}

inline void WebSocket::close() { request_close(0, {}); }

inline void WebSocket::close(std::uint16_t code, std::string_view reason) {
  // close() step 1: only 1000 and 3000-4999.
  if (code != 1000 && (code < 3000 || code > 4999))
    throw InvalidAccessError(
        "Failed to execute 'close' on 'WebSocket': The close code must be "
        "either 1000, or between 3000 and 4999. " +
        std::to_string(code) + " is neither.");
  // Step 2: the reason, as UTF-8, at most 123 bytes.
  if (!detail::valid_utf8(reason))
    throw SyntaxError("Failed to execute 'close' on 'WebSocket': The close "
                      "reason is not valid UTF-8.");
  if (reason.size() > 123)
    throw SyntaxError("Failed to execute 'close' on 'WebSocket': The close "
                      "reason must not be greater than 123 UTF-8 bytes.");
  request_close(code, std::string(reason));
}

/// close() steps 3-5, and the server's own close: code 0 sends a close frame
/// without a body (the peer then reports 1005).
inline void WebSocket::request_close(std::uint16_t code, std::string reason) {
  detail::Core &c = *core_;
  unsigned short s = c.ready_state.load();
  while ((s == CONNECTING || s == OPEN) &&
         !c.ready_state.compare_exchange_weak(s, CLOSING)) {
  }
  // CLOSING or CLOSED: nothing to do. CONNECTING: fail the connection.
  if (s == CONNECTING)
    detail::Core::on_loop([core = core_] { core->abort_connecting(); });
  else if (s == OPEN)
    detail::Core::on_loop([core = core_, code, r = std::move(reason)] {
      core->begin_close(code, r);
    });
}

inline unsigned short WebSocket::readyState() const {
  return core_->ready_state.load();
}

inline std::uint64_t WebSocket::bufferedAmount() const {
  return core_->buffered->load();
}

inline const std::string &WebSocket::url() const { return core_->url; }

inline const std::string &WebSocket::protocol() const {
  static const std::string none;
  return readyState() == CONNECTING ? none : core_->protocol;
}

inline const std::string &WebSocket::extensions() const {
  static const std::string none;
  return readyState() == CONNECTING ? none : core_->extensions;
}

} // namespace ws
