// ws::WebSocket: the browser's WebSocket interface, for clients and for the
// sockets a ws::Server accepts.
// SPDX-License-Identifier: MIT
#pragma once

#include "events.hpp"

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
} // namespace detail

/// What a browser decides for its pages and a C++ program must say itself
/// (Node ws: the options of new WebSocket(url, protocols, options)).
struct ClientOptions {
  /// A PEM file of CA certificates to trust for wss://, besides the
  /// system's (Node: ca). For self-signed and test set-ups.
  std::string caFile;
  /// Node: rejectUnauthorized. false accepts any certificate for any host:
  /// for tests only. A warning goes to stderr once per process.
  bool rejectUnauthorized = true;

  /// Node ws: maxPayload. A message from the server larger than this many
  /// bytes fails the connection: the server gets close 1009 (Message Too
  /// Big); here error, then close 1006.
  std::uint64_t maxPayload = 16 * 1024 * 1024;
  /// Node ws: handshakeTimeout. The opening handshake (after TCP connects)
  /// must finish within this, or error, then close 1006.
  std::chrono::milliseconds handshakeTimeout{10000};
  /// After close(), how long to wait for the server's close frame and the end
  /// of TCP; then the connection is dropped and close has wasClean == false.
  std::chrono::milliseconds closeTimeout{5000};
  /// Heartbeat, off with 0: a ping every interval; a pong that has not come
  /// back by the next one drops the connection (error, then close 1006), so
  /// a dead peer is found within about two intervals. A browser has no such
  /// option (it cannot send pings); Node ws leaves it to the program.
  std::chrono::milliseconds pingInterval{0};
};

/// Node ws: the options of socket.send(data, options).
struct SendOptions {
  /// Send the bytes as a binary frame (else a text frame, which must be
  /// UTF-8).
  bool binary = false;
};

/// JS: WebSocket (https://websockets.spec.whatwg.org/#the-websocket-interface)
///
/// Threads: handlers run on the thread that runs the event loop (ws::run()),
/// one at a time and never re-entrantly, as in JS. send(), close(),
/// readyState() and bufferedAmount() are safe from any thread. Assign
/// handlers on the loop thread or before the loop runs. Distinct objects:
/// safe. Shared objects: safe for the calls just named.
///
/// Destroying a WebSocket is always safe: an open one is closed with 1001
/// (going away), and no handler runs on it afterwards.
class WebSocket {
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
  /// the reason) then close 1006. Throws ws::TlsError for a CA file that
  /// cannot be read, and ws::NotSupportedError for wss:// in a build without
  /// TLS.
  WebSocket(const std::string &url, const std::vector<std::string> &protocols,
            const ClientOptions &options);
  ~WebSocket();
  WebSocket(const WebSocket &) = delete;
  WebSocket &operator=(const WebSocket &) = delete;

  /// JS: socket.onopen and friends. Assign a callable, or nullptr to clear.
  /// An onX handler runs before listeners added with addEventListener (in
  /// the DOM it runs where it was first set among them).
  std::function<void(const Event &)> onopen;
  std::function<void(const MessageEvent &)> onmessage;
  std::function<void(const ErrorEvent &)> onerror;
  std::function<void(const CloseEvent &)> onclose;

  /// Identifies a listener for removeEventListener: C++ callables cannot be
  /// compared as JS functions are.
  using ListenerId = std::uint64_t;

  /// JS: socket.addEventListener(type, listener)
  /// The listener takes `const ws::Event&`, or the event type that `type`
  /// fires (`const ws::MessageEvent&` for "message", ...); a mismatch throws
  /// std::invalid_argument. Unknown types are accepted and never fire, as in
  /// the DOM.
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
  /// Node ws: socket.send(data, { binary }): bytes held in a string sent as
  /// either kind of frame, with no copy into a Binary (an echo:
  /// `socket.send(event.data, {event.isBinary})`).
  void send(std::string_view data, SendOptions options);

  /// JS: socket.close(code, reason)
  /// Throws ws::InvalidAccessError unless code is 1000 or 3000-4999, and
  /// ws::SyntaxError if reason is over 123 bytes of UTF-8 (or not UTF-8).
  /// While CONNECTING it fails the connection: error, then close 1006.
  void close();
  void close(std::uint16_t code, std::string_view reason = {});

  /// JS: socket.readyState: CONNECTING, OPEN, CLOSING or CLOSED.
  unsigned short readyState() const;
  /// JS: socket.bufferedAmount: bytes of messages queued by send() and not
  /// yet written to the network.
  std::uint64_t bufferedAmount() const;
  /// JS: socket.url, serialized ("" for a socket a server accepted).
  const std::string &url() const;
  /// JS: socket.protocol: the subprotocol the server chose, or "".
  const std::string &protocol() const;
  /// JS: socket.extensions: the extensions the server chose ("": none are
  /// offered by this library).
  const std::string &extensions() const;
  /// JS: socket.binaryType. Always "arraybuffer": binary data arrives as
  /// bytes in MessageEvent::data (see MessageEvent::binary()).
  std::string binaryType() const { return "arraybuffer"; }

private:
  friend class Server;
  friend class detail::Core;
  friend class detail::ServerCore;
  struct Listener {
    std::string type;
    ListenerId id;
    std::function<void(const Event &)> fn;
  };

  explicit WebSocket(std::shared_ptr<detail::Core> core);
  ListenerId add_listener(const std::string &type, const char *wanted,
                          std::function<void(const Event &)> fn);
  void send_frame(int opcode, const char *data, std::size_t size);
  void request_close(std::uint16_t code, std::string reason);
  template <class E> void dispatch_listeners(const E &event);

  std::shared_ptr<detail::Core> core_;
  std::vector<Listener> listeners_;
  ListenerId next_listener_ = 1;
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
  else {
    static_assert(std::is_invocable_v<F &, const ErrorEvent &>,
                  "a listener takes const ws::Event& or a derived event");
    return typed(std::common_type<ErrorEvent>{}, "error");
  }
}

} // namespace ws

#include "impl/web_socket.hpp"
