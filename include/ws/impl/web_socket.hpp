// Definitions for web_socket.hpp: thin, forwarding to detail::Core
// (detail/core_impl.hpp).
// SPDX-License-Identifier: MIT
#pragma once

#include "../detail/core.hpp"
#include "../detail/core_impl.hpp"
#include "../errors.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace ws {

WS_DECL WebSocket::WebSocket(const std::string &url, std::string_view protocol)
    : WebSocket(url, std::vector<std::string>{std::string(protocol)}) {}

WS_DECL WebSocket::WebSocket(const std::string &url,
                             const std::vector<std::string> &protocols)
    : WebSocket(url, protocols, ClientOptions()) {}

WS_DECL WebSocket::WebSocket(const std::string &url,
                             const std::vector<std::string> &protocols,
                             const ClientOptions &options)
    : core_(std::make_shared<detail::Core>(false)) {
  bind_handlers();
  auto client = std::make_unique<detail::ClientState>();
  // Constructor steps 1-5: parse the URL (SyntaxError).
  client->parsed = detail::parse_websocket_url(url);
  if (options.certFile.empty() != options.keyFile.empty())
    throw TlsError("ClientOptions: certFile and keyFile go together");
  if (client->parsed.scheme == "wss") {
#if WS_TLS
    client->tls = detail::client_context(options.caFile, options.certFile,
                                         options.keyFile);
    client->verify = options.rejectUnauthorized;
    if (!client->verify)
      detail::warn_unverified(client->parsed.href);
#else
    (void)options;
    throw NotSupportedError(
        "Failed to construct 'WebSocket': wss:// needs TLS, which was not "
        "built into ws (build with OpenSSL: the meson option ws_tls, or define "
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
  client->url = client->parsed.href;
  client->offered = protocols;
  client->headers = detail::handshake_headers(options);
  client->proxy = detail::proxy_route(client->parsed, options);
  core_->limits = options;
  const ReconnectOptions &r = options.reconnect;
  if (r.enabled && (r.initialDelay.count() < 0 || r.maxDelay < r.initialDelay ||
                    !(r.factor >= 1.0)))
    throw std::invalid_argument(
        "Failed to construct 'WebSocket': reconnect needs 0 <= initialDelay "
        "<= maxDelay and a factor of at least 1.");
  client->reconnect = r;
  // On by default: a build without zlib just offers nothing.
  if (options.perMessageDeflate.enabled && WS_DEFLATE)
    detail::check_deflate_options(options.perMessageDeflate);
  core_->deflate = options.perMessageDeflate;
  core_->deflate.enabled = core_->deflate.enabled && WS_DEFLATE;
  if (options.reconnect.enabled && options.pingInterval.count() == 0)
    core_->limits.pingInterval = std::chrono::seconds(30);
  core_->client = std::move(client);
  core_->handles = 1;
  // Step 8 runs "in parallel": on the loop, after this code has had its
  // chance to assign handlers.
  asio::post(detail::loop().ctx, [core = core_] { core->start_client(); });
}

WS_DECL WebSocket::WebSocket(std::shared_ptr<detail::Core> core, Adopt)
    : core_(std::move(core)) {
  bind_handlers();
}

WS_DECL WebSocket::WebSocket(detail::Core *core, Self)
    : core_(std::shared_ptr<detail::Core>(), core) {
  bind_handlers();
}

WS_DECL std::shared_ptr<detail::Core> WebSocket::owning() const {
  return core_.use_count() ? core_ : core_->shared_from_this();
}

WS_DECL WebSocket::WebSocket(const WebSocket &other) : core_(other.owning()) {
  core_->handles.fetch_add(1);
  bind_handlers();
}

WS_DECL WebSocket &WebSocket::operator=(const WebSocket &other) {
  if (core_ == other.core_)
    return *this;
  auto theirs = other.owning();
  theirs->handles.fetch_add(1);
  auto mine = std::exchange(core_, std::move(theirs));
  bind_handlers();
  if (mine.use_count() && mine->handles.fetch_sub(1) == 1)
    detail::Core::handles_gone(std::move(mine));
  else
    detail::Core::release(std::move(mine));
  return *this;
}

WS_DECL WebSocket::~WebSocket() {
  // The socket's own handle (event.target) does not count.
  if (!core_.use_count())
    return;
  if (core_->handles.fetch_sub(1) == 1)
    detail::Core::handles_gone(std::move(core_));
  else
    detail::Core::release(std::move(core_));
}

WS_DECL void WebSocket::bind_handlers() {
  onopen.slot_ = &core_->onopen;
  onmessage.slot_ = &core_->onmessage;
  onerror.slot_ = &core_->onerror;
  onclose.slot_ = &core_->onclose;
  onreconnecting.slot_ = &core_->onreconnecting;
  onbufferedamountlow.slot_ = &core_->onbufferedamountlow;
  onbufferedamountlow.watcher_ = core_.get();
}

WS_DECL WebSocket::ListenerId
WebSocket::add_listener(const std::string &type, const char *wanted,
                        std::function<void(const Event &)> fn) {
  // A MessageEvent also carries a ping's or a pong's payload.
  const bool payload = std::string_view(wanted ? wanted : "") == "message" &&
                       (type == "ping" || type == "pong");
  if (wanted && type != wanted && !payload)
    throw std::invalid_argument("addEventListener: a listener for '" +
                                std::string(wanted) +
                                "' events cannot listen for '" + type + "'");
  if (!fn)
    return 0; // DOM: a null listener is ignored
  auto &c = *core_;
  c.listeners.push_back({type, c.next_listener, std::move(fn)});
  if (type == "bufferedamountlow")
    detail::watch_low(c);
  return c.next_listener++;
}

WS_DECL void WebSocket::removeEventListener(const std::string &type,
                                            ListenerId id) {
  auto &l = core_->listeners;
  l.erase(std::remove_if(l.begin(), l.end(),
                         [&](const detail::Listener &x) {
                           return x.id == id && x.type == type;
                         }),
          l.end());
  if (type == "bufferedamountlow")
    detail::watch_low(*core_);
}

WS_DECL void WebSocket::send(std::string_view text) {
  // A JS string always converts to UTF-8; a std::string may not be UTF-8,
  // and a text frame must be (RFC 6455 5.6).
  send(text, SendOptions{});
}

WS_DECL void WebSocket::send(std::string_view data, SendOptions options) {
  if (!options.binary && !detail::valid_utf8(data) &&
      readyState() != CONNECTING)
    throw SyntaxError("Failed to execute 'send' on 'WebSocket': The message "
                      "is not valid UTF-8; send it as ws::Binary instead.");
  core_->send(options.binary ? websocketpp::frame::opcode::binary
                             : websocketpp::frame::opcode::text,
              data.data(), data.size(), options.compress);
}

WS_DECL void WebSocket::send(const Binary &data) {
  core_->send(websocketpp::frame::opcode::binary,
              reinterpret_cast<const char *>(data.data()), data.size());
}

namespace detail {
/// The topics of a socket a server accepted; a client's have none.
inline Topics &topics_of(const Core &core, const char *what) {
  if (!core.topics)
    throw NotSupportedError(std::string("Failed to execute '") + what +
                            "' on 'WebSocket': topics belong to a server's "
                            "sockets, and this is a client socket.");
  return *core.topics;
}
} // namespace detail

WS_DECL void WebSocket::subscribe(const std::string &topic) {
  detail::topics_of(*core_, "subscribe").subscribe(*core_, topic);
}

WS_DECL void WebSocket::unsubscribe(const std::string &topic) {
  if (core_->topics)
    core_->topics->unsubscribe(*core_, topic);
}

WS_DECL bool WebSocket::isSubscribed(const std::string &topic) const {
  return core_->topics && core_->topics->subscribed(*core_, topic);
}

WS_DECL std::vector<std::string> WebSocket::subscriptions() const {
  return core_->topics ? core_->topics->of(*core_) : std::vector<std::string>();
}

WS_DECL void WebSocket::publish(const std::string &topic,
                                std::string_view text) {
  publish(topic, text, SendOptions{});
}

WS_DECL void WebSocket::publish(const std::string &topic, const Binary &data) {
  publish(topic,
          std::string_view(reinterpret_cast<const char *>(data.data()),
                           data.size()),
          SendOptions{true});
}

WS_DECL void WebSocket::publish(const std::string &topic, std::string_view data,
                                SendOptions options) {
  detail::topics_of(*core_, "publish");
  if (!options.binary && !detail::valid_utf8(data))
    throw SyntaxError("Failed to execute 'publish' on 'WebSocket': The "
                      "message is not valid UTF-8; send it as ws::Binary "
                      "instead.");
  if (auto server = core_->server.lock())
    server->publish(options.binary ? websocketpp::frame::opcode::binary
                                   : websocketpp::frame::opcode::text,
                    data.data(), data.size(), options.compress, topic, core_);
}

WS_DECL void WebSocket::close() { core_->request_close(0, {}); }

WS_DECL void detail::check_close(std::uint16_t code, std::string_view reason,
                                 const char *what) {
  const std::string call = std::string(what) + ": ";
  // close() step 1: only 1000 and 3000-4999.
  if (code != 1000 && (code < 3000 || code > 4999))
    throw InvalidAccessError(call +
                             "The close code must be either 1000, or between "
                             "3000 and 4999. " +
                             std::to_string(code) + " is neither.");
  // Step 2: the reason, as UTF-8, at most 123 bytes.
  if (!valid_utf8(reason))
    throw SyntaxError(call + "The close reason is not valid UTF-8.");
  if (reason.size() > 123)
    throw SyntaxError(
        call + "The close reason must not be greater than 123 UTF-8 bytes.");
}

WS_DECL void WebSocket::close(std::uint16_t code, std::string_view reason) {
  detail::check_close(code, reason, "Failed to execute 'close' on 'WebSocket'");
  core_->request_close(code, std::string(reason));
}

WS_DECL unsigned short WebSocket::readyState() const {
  return core_->ready_state.load();
}

WS_DECL std::uint64_t WebSocket::bufferedAmount() const {
  return core_->counters->buffered.load();
}

WS_DECL std::uint64_t WebSocket::bufferedAmountLowThreshold() const {
  return core_->counters->buffered.low_threshold.load();
}

WS_DECL void WebSocket::setBufferedAmountLowThreshold(std::uint64_t n) {
  core_->counters->buffered.low_threshold.store(n);
}

WS_DECL void WebSocket::pause() { core_->set_paused(true); }

WS_DECL void WebSocket::resume() { core_->set_paused(false); }

WS_DECL bool WebSocket::isPaused() const { return core_->paused.load(); }

WS_DECL MessageEvent *WebSocket::takeable(const MessageEvent &event) const {
  MessageEvent *e = core_->delivering;
  return e == &event && !core_->listening("message") ? e : nullptr;
}

WS_DECL const std::string &WebSocket::url() const {
  static const std::string none; // a socket a server accepted
  return core_->client ? core_->client->url : none;
}

WS_DECL const std::string &WebSocket::protocol() const {
  static const std::string none;
  return readyState() == CONNECTING ? none : core_->protocol;
}

WS_DECL const std::string &WebSocket::extensions() const {
  static const std::string none;
  return readyState() == CONNECTING ? none : core_->extensions;
}

} // namespace ws
