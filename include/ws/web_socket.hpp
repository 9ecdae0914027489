// ws::WebSocket: the browser's WebSocket interface, for clients and for the
// sockets a ws::Server accepts.
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#include "events.hpp"
#include "options.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ws {

namespace detail {
class Core;
class ServerCore;
class StreamState;
/// The socket's bufferedamountlow handler or listeners changed: it watches
/// its bufferedAmount only while it has one.
WS_DECL void watch_low(Core &core);
/// close()'s steps 1-2 (WebSocketError's too): throws InvalidAccessError
/// for a code other than 1000 or 3000-4999, SyntaxError for a reason that
/// is not UTF-8 or is over 123 bytes. `what` begins the message, e.g.
/// "Failed to execute 'close' on 'WebSocket'".
WS_DECL void check_close(std::uint16_t code, std::string_view reason,
                         const char *what);
} // namespace detail

/// JS: socket.onopen and friends: an event handler attribute. Assign a
/// callable taking `const E&`, or nullptr to clear; test it with `if`. Every
/// handle to a socket shares its handlers, as every reference to a JS object
/// shares its properties.
template <class E> class EventHandler {
public:
  using Function = std::function<void(const E &)>;
  EventHandler &operator=(Function f) {
    *slot_ = std::move(f);
    changed();
    return *this;
  }
  /// Copies the other socket's handler (not the slot).
  EventHandler &operator=(const EventHandler &other) {
    *slot_ = *other.slot_;
    changed();
    return *this;
  }
  explicit operator bool() const { return static_cast<bool>(*slot_); }
  void operator()(const E &event) const {
    if (*slot_)
      (*slot_)(event);
  }

private:
  friend class WebSocket;
  EventHandler() = default;
  EventHandler(const EventHandler &) = default;
  void changed() {
    if (watcher_)
      detail::watch_low(*watcher_);
  }
  Function *slot_ = nullptr;        // in the socket's shared state
  detail::Core *watcher_ = nullptr; // onbufferedamountlow's socket
};

/// JS: WebSocket (https://websockets.spec.whatwg.org/#the-websocket-interface)
///
/// A ws::WebSocket is a handle, as a JS variable is a reference: copies are
/// handles to the same socket, sharing its state and handlers, and each
/// stays valid as long as it is kept, on any thread, even after the socket
/// has closed (then readyState() is CLOSED and send() only counts bytes in
/// bufferedAmount, as in JS). A worker thread keeps a copy, never a
/// reference or pointer, to a socket whose end it does not control.
///
/// Threads: handlers run on the thread that runs the event loop (ws::run()),
/// one at a time and never re-entrantly, as in JS, and never while a lock of
/// ours is held: a handler may block, throw, drop its socket or wait for
/// another thread. send(), close(), readyState(), bufferedAmount(), url(),
/// protocol() and extensions(), pause(), resume() and isPaused(), the
/// bufferedAmountLowThreshold functions, the topic functions (subscribe()
/// and the rest), and copying or destroying a handle, are safe from any
/// thread. Assign
/// handlers and add listeners on the loop thread or before the loop runs.
///
/// When the last handle to a client socket goes, an open socket is closed
/// with 1001 (going away), one still connecting is abandoned, and no handler
/// runs on it again. A server keeps a handle to each socket it accepted
/// until that socket's close event has run.
class WebSocket {
  std::shared_ptr<detail::Core> core_; // first: the handlers point into it

public:
  /// JS: WebSocket.CONNECTING and friends, with the spec's values.
  static constexpr unsigned short CONNECTING = 0;
  static constexpr unsigned short OPEN = 1;
  static constexpr unsigned short CLOSING = 2;
  static constexpr unsigned short CLOSED = 3;

  /// JS: new WebSocket(url, protocols)
  /// Throws ws::SyntaxError for a URL that does not parse, a scheme other
  /// than ws, wss, http or https (http(s) mean ws(s)), a fragment, or a
  /// protocol list with a repeated or invalid name. The connection starts
  /// on the event loop, so handlers assigned right after construction see
  /// every event, as in JS.
  explicit WebSocket(const std::string &url,
                     const std::vector<std::string> &protocols = {});
  /// JS: new WebSocket(url, protocol)
  WebSocket(const std::string &url, std::string_view protocol);
  /// Node ws: new WebSocket(url, protocols, options). wss:// checks the
  /// server's certificate against the system's CAs (and options.caFile) and
  /// the host name, as a browser does; a failed check fires error (naming
  /// the reason) then close 1006. Throws ws::TlsError for a CA, certificate
  /// or key file that cannot be used, ws::NotSupportedError for wss:// in a
  /// build without TLS or a proxy that is not http://, ws::SyntaxError for
  /// a bad header or proxy URL, and std::invalid_argument for reconnect
  /// options out of range (see ClientOptions).
  WebSocket(const std::string &url, const std::vector<std::string> &protocols,
            const ClientOptions &options);
  /// Another handle to the same socket (JS: `const b = a`).
  WebSocket(const WebSocket &other);
  /// Makes this a handle to other's socket; the one it held loses a handle.
  WebSocket &operator=(const WebSocket &other);
  ~WebSocket();

  /// JS: socket.onopen and friends. Assign a callable, or nullptr to clear.
  /// An onX handler runs before listeners added with addEventListener (in
  /// the DOM it runs where it was first set among them).
  EventHandler<Event> onopen;
  EventHandler<MessageEvent> onmessage;
  EventHandler<ErrorEvent> onerror;
  EventHandler<CloseEvent> onclose;
  /// ws only: with ClientOptions::reconnect, fired where close would be
  /// when the socket will connect again (see ReconnectOptions).
  EventHandler<ReconnectingEvent> onreconnecting;
  /// RTCDataChannel: channel.onbufferedamountlow
  /// (https://w3c.github.io/webrtc-pc/#dom-datachannel-bufferedamountlow).
  /// Fired on the loop thread when bufferedAmount falls from above
  /// bufferedAmountLowThreshold() to at or below it, as the network takes
  /// the queued frames, while the socket is OPEN or CLOSING: a producer
  /// writes until a high-water mark, then waits for this to write more.
  /// Reconnecting forgets unsent bytes without firing it (open fires
  /// again). A socket with no handler or listener for it pays nothing.
  EventHandler<Event> onbufferedamountlow;

  /// Identifies a listener for removeEventListener: C++ callables cannot be
  /// compared as JS functions are.
  using ListenerId = std::uint64_t;

  /// JS: socket.addEventListener(type, listener)
  /// The listener takes `const ws::Event&`, or the event type that `type`
  /// fires (`const ws::MessageEvent&` for "message", ...); a mismatch throws
  /// std::invalid_argument. Unknown types are accepted and never fire, as in
  /// the DOM. Besides the browser's four, as Node's ws: "ping" and "pong"
  /// (a MessageEvent whose data is the payload; pings are still answered)
  /// and, for a client, "upgrade" (an UpgradeEvent, before open); and
  /// "reconnecting" (ClientOptions::reconnect). As RTCDataChannel:
  /// "bufferedamountlow" (an Event).
  template <class F>
  ListenerId addEventListener(const std::string &type, F &&listener);
  /// JS: socket.removeEventListener(type, listener)
  void removeEventListener(const std::string &type, ListenerId id);

  /// JS: socket.send(data) with a string: a text frame.
  /// Throws ws::InvalidStateError while CONNECTING, ws::SyntaxError if the
  /// text is not UTF-8 (a JS string always is). Once CLOSING or CLOSED it
  /// sends nothing and adds the size to bufferedAmount, as the spec says.
  void send(std::string_view text);
  void send(const char *text) { send(std::string_view(text)); }
  void send(const std::string &text) { send(std::string_view(text)); }
  /// JS: socket.send(arrayBuffer): a binary frame.
  void send(const Binary &data);
  /// Node ws: socket.send(data, { binary, compress }): bytes held in a
  /// string sent as either kind of frame, with no copy into a Binary (an
  /// echo: `socket.send(event.data, {event.isBinary})`), compressed or not.
  void send(std::string_view data, SendOptions options);

  /// Bun: ws.subscribe(topic). A socket a ws::Server accepted joins
  /// `topic`: what is published there (Server::publish, or another socket's
  /// publish, here or through ServerOptions::bus) is sent to it. Joining
  /// twice is joining once. Its subscriptions end with it: once its close
  /// event has run it has none, and subscribe() does nothing. Throws
  /// ws::NotSupportedError on a client socket (topics are a server's).
  void subscribe(const std::string &topic);
  /// Bun: ws.unsubscribe(topic). Leaving a topic not joined does nothing.
  void unsubscribe(const std::string &topic);
  /// Bun: ws.isSubscribed(topic).
  bool isSubscribed(const std::string &topic) const;
  /// Bun: ws.subscriptions: the topics joined, in sorted order.
  std::vector<std::string> subscriptions() const;
  /// Bun: ws.publish(topic, data): Server::publish to every subscriber but
  /// this socket (subscribed or not). Throws ws::SyntaxError for text that
  /// is not UTF-8, ws::NotSupportedError on a client socket; once the
  /// server is gone it sends nothing.
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

  /// JS: socket.close(code, reason)
  /// Throws ws::InvalidAccessError unless code is 1000 or 3000-4999, and
  /// ws::SyntaxError if reason is over 123 bytes of UTF-8 (or not UTF-8).
  /// While CONNECTING it fails the connection: error, then close 1006.
  void close();
  void close(std::uint16_t code, std::string_view reason = {});

  /// JS: socket.readyState: CONNECTING, OPEN, CLOSING or CLOSED.
  unsigned short readyState() const;
  /// JS: socket.bufferedAmount: bytes of messages queued by send() and not
  /// yet written to the network. With reconnect, the current connection's:
  /// what never went out is forgotten when `reconnecting` fires.
  std::uint64_t bufferedAmount() const;
  /// RTCDataChannel: channel.bufferedAmountLowThreshold (default 0).
  std::uint64_t bufferedAmountLowThreshold() const;
  /// RTCDataChannel: channel.bufferedAmountLowThreshold = n.
  void setBufferedAmountLowThreshold(std::uint64_t n);

  /// Node ws: socket.pause(). Stops reading from TCP, so the peer's
  /// messages wait in the kernel and then in the peer (its bufferedAmount
  /// grows as TCP's window closes), and our memory stays bounded. No
  /// message event fires while paused: what was already read (at most one
  /// read, 64 KiB of frames: the read in flight when the pause began still
  /// completes) waits in the socket and fires first on resume(). Sending
  /// goes on. The heartbeat (pingInterval) rests: a pong cannot be read.
  /// close() reads what the closing handshake needs, so it cannot hang
  /// (the messages that waited are dropped, as once CLOSING); a close from
  /// the peer behind unread data is seen on resume(). Unlike Node's, it
  /// also holds while CONNECTING (the handshake is read, nothing after it)
  /// and across reconnects.
  void pause();
  /// Node ws: socket.resume(). Reading goes on where it stopped.
  void resume();
  /// Node ws: socket.isPaused.
  bool isPaused() const;

  /// JS: socket.url, serialized ("" for a socket a server accepted).
  const std::string &url() const;
  /// JS: socket.protocol: the subprotocol the server chose, or "".
  const std::string &protocol() const;
  /// JS: socket.extensions: the extensions agreed, e.g. "permessage-deflate;
  /// server_no_context_takeover", or "" (see PerMessageDeflate).
  const std::string &extensions() const;
  /// JS: socket.binaryType. Always "arraybuffer": binary data arrives as
  /// bytes in MessageEvent::data (see MessageEvent::binary()).
  std::string binaryType() const { return "arraybuffer"; }

  /// True when both are handles to the same socket (JS: a === b).
  bool operator==(const WebSocket &other) const { return core_ == other.core_; }
  bool operator!=(const WebSocket &other) const { return core_ != other.core_; }

private:
  friend class detail::Core;
  friend class detail::ServerCore;
  friend class detail::StreamState;
  /// `event`, writable, if it is the message event the socket is firing
  /// and no listener sees it after onmessage: WebSocketStream's queue then
  /// takes its data instead of copying it. Otherwise nullptr.
  MessageEvent *takeable(const MessageEvent &event) const;

  /// A handle to `core`, whose handle count the caller has already raised.
  struct Adopt {};
  WebSocket(std::shared_ptr<detail::Core> core, Adopt);
  /// The socket's own handle, event.target: it neither counts nor owns (the
  /// core holds it), and a copy of it is an ordinary handle.
  struct Self {};
  WebSocket(detail::Core *core, Self);
  std::shared_ptr<detail::Core> owning() const;
  void bind_handlers();
  ListenerId add_listener(const std::string &type, const char *wanted,
                          std::function<void(const Event &)> fn);
};

static_assert(WebSocket::CONNECTING == 0 && WebSocket::OPEN == 1 &&
                  WebSocket::CLOSING == 2 && WebSocket::CLOSED == 3,
              "readyState values are the spec's");

template <class F>
WebSocket::ListenerId WebSocket::addEventListener(const std::string &type,
                                                  F &&listener) {
  // Wraps a listener of a derived event type; the type check is in
  // add_listener, so the cast is safe when it runs.
  auto typed = [&](auto tag, const char *wanted) {
    using E = typename decltype(tag)::type;
    return add_listener(type, wanted,
                        [f = std::forward<F>(listener)](const Event &e) {
                          f(static_cast<const E &>(e));
                        });
  };
  if constexpr (std::is_invocable_v<F &, const Event &>)
    return add_listener(type, nullptr, std::forward<F>(listener));
  else if constexpr (std::is_invocable_v<F &, const MessageEvent &>)
    return typed(std::common_type<MessageEvent>{}, "message");
  else if constexpr (std::is_invocable_v<F &, const CloseEvent &>)
    return typed(std::common_type<CloseEvent>{}, "close");
  else if constexpr (std::is_invocable_v<F &, const ReconnectingEvent &>)
    return typed(std::common_type<ReconnectingEvent>{}, "reconnecting");
  else if constexpr (std::is_invocable_v<F &, const UpgradeEvent &>)
    return typed(std::common_type<UpgradeEvent>{}, "upgrade");
  else {
    static_assert(std::is_invocable_v<F &, const ErrorEvent &>,
                  "a listener takes const ws::Event& or a derived event");
    return typed(std::common_type<ErrorEvent>{}, "error");
  }
}

} // namespace ws

#ifndef WS_SEPARATE_COMPILATION
#include "impl/web_socket.hpp"
#endif
