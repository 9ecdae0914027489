// The state of one connection, shared by every ws::WebSocket handle to it and
// reached by websocketpp's handlers, and the mapping from websocketpp's
// events to the browser's. Its bodies are in core_impl.hpp.
// SPDX-License-Identifier: MIT
// No #pragma once: the guard comes after the includes. Header-only, the
// foot of ../web_socket.hpp includes impl/web_socket.hpp, which includes this
// file again; when this file came first, that second reading defines what
// follows (every class it needs is complete by then), and this one skips it.

#include "../events.hpp"
#include "../options.hpp"
#include "../web_socket.hpp"
#include "config.hpp"
#include "frame.hpp"
#include "loop.hpp"
#include "proxy.hpp"
#include "tls.hpp"
#include "url.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#ifndef WS_DETAIL_CORE_HPP
#define WS_DETAIL_CORE_HPP

namespace ws::detail {

class Core;

/// Who keeps an accepted socket until its close event has run (the server's
/// core); told when that has happened. A socket's publish() goes through it.
class SocketOwner {
public:
  virtual void forget(const Core &socket) = 0;
  virtual void publish(int opcode, const char *data, std::size_t size,
                       bool compress, std::string topic,
                       std::weak_ptr<Core> except) = 0;

protected:
  ~SocketOwner() = default;
};

/// A server's topics: who subscribes to each. Any thread may subscribe,
/// unsubscribe or ask, so the map and each socket's own list (Core::
/// subscribed) are kept under one lock. A socket's subscriptions end with
/// it (end(), once its close event has run); until then the server holds
/// it, so every socket in the map is alive.
class Topics {
public:
  /// Told when a topic gains its first subscriber or loses its last, under
  /// the lock (so it only posts): a bus follows which topics the server has.
  std::function<void(const std::string &topic)> changed;

  void subscribe(Core &socket, const std::string &topic);
  void unsubscribe(Core &socket, const std::string &topic);
  bool subscribed(const Core &socket, const std::string &topic);
  std::vector<std::string> of(const Core &socket);
  std::size_t count(const std::string &topic);
  /// Its subscriptions end: it leaves every topic, and joins none again.
  void end(Core &socket);
  /// Appends the topic's subscribers, but `except`, to `out`. On the loop
  /// thread, where they stay alive while the caller uses them.
  void subscribers(const std::string &topic, const Core *except,
                   std::vector<Core *> &out);

private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::unordered_set<Core *>> topics_;
  void leave(Core &socket, const std::string &topic);
};

/// What only a client socket has: a server's sockets do without it.
struct ClientState {
  std::string url; // serialized, for url()
  Url parsed;
  std::vector<std::string> offered; // the subprotocols asked for
  std::vector<std::pair<std::string, std::string>> headers; // with Origin
  bool verify = true;                // check the server's certificate
  std::unique_ptr<ProxyRoute> proxy; // none: straight to the server
#if WS_TLS
  TlsContext tls; // wss:// only
#endif
  // Reconnection, on the loop thread.
  ReconnectOptions reconnect;
  unsigned attempt = 0; // attempts since a connection lasted minUptime
  bool opened = false;  // a connection has opened (protocol is set)
  std::chrono::steady_clock::time_point open_since; // this connection's
  std::unique_ptr<asio::steady_timer> retry; // while waiting to reconnect
};

/// The two counters a socket's queued frames give back to when written, in
/// one block shared by the core and its connection (ConnectionBase): a
/// frame may outlive the core, since websocketpp lets it go when it is done
/// with it.
struct Counters {
  Owed buffered{0}; // bytes, for bufferedAmount (and bufferedamountlow)
  Owed pongs{0};    // pongs not yet written
  /// Bytes counted in `buffered` that will never be sent (sent once the
  /// connection was closing or gone): a reconnecting socket forgets them.
  std::atomic<std::uint64_t> unsent{0};
};

/// A listener added with addEventListener.
struct Listener {
  std::string type;
  std::uint64_t id;
  std::function<void(const Event &)> fn;
};

/// One connection. Every ws::WebSocket handle holds it, so it lives as long
/// as any handle does, on any thread; websocketpp's connection only reaches
/// it through a plain pointer (ConnectionBase) that the core clears when it
/// goes, and the core holds that connection until the close event has fired.
/// It is destroyed on the loop thread only: a handle let go on another
/// thread hands its reference to the loop.
///
/// Threads: the atomics and the fields written before readyState leaves
/// CONNECTING may be read from any thread; everything else belongs to the
/// loop thread (and to the one thread that builds the socket before the
/// loop sees it).
class Core : public std::enable_shared_from_this<Core> {
public:
  explicit Core(bool serving) : is_server(serving) {}
  ~Core();
  Core(const Core &) = delete;
  Core &operator=(const Core &) = delete;

  // Written before readyState leaves CONNECTING, constant afterwards.
  const bool is_server;
  std::string protocol;
  std::string extensions;
  ConnectionLimits limits;
  std::uint64_t max_buffered = 0; // 0: never close for a slow reader
  PerMessageDeflate deflate;      // threshold, level and memLevel
  std::unique_ptr<ClientState> client;
  /// A server's socket: its server's topics.
  std::shared_ptr<Topics> topics;
  // Under the topics' lock: what it subscribes to, and whether that has
  // ended with it.
  std::set<std::string> subscribed;
  bool topics_ended = false;

  std::atomic<unsigned short> ready_state{0};
  /// The user's handles (ws::WebSocket objects) to this socket. When the
  /// last goes, the socket is closed with 1001 and no handler runs again.
  std::atomic<long> handles{0};
  std::shared_ptr<Counters> counters = std::make_shared<Counters>();
  /// What this connection's messages are compressed with (see
  /// no_context_bit): 0 when permessage-deflate was not agreed.
  std::atomic<int> deflate_mode{0};
  /// pause(): the user's wish, from any thread; the loop holds the reads
  /// of an open connection to match (hold_reads).
  std::atomic<bool> paused{false};

  // The handlers and listeners: loop thread (or before the loop sees them).
  std::function<void(const Event &)> onopen;
  std::function<void(const MessageEvent &)> onmessage;
  MessageEvent *delivering = nullptr; // deliver()'s, while it fires
  std::function<void(const ErrorEvent &)> onerror;
  std::function<void(const CloseEvent &)> onclose;
  std::function<void(const ReconnectingEvent &)> onreconnecting;
  std::function<void(const Event &)> onbufferedamountlow;
  std::vector<Listener> listeners;
  std::uint64_t next_listener = 1;

  // Loop thread only.
  ConnectionPtr con;
  std::weak_ptr<SocketOwner> server; // the server that accepted it
  std::string fail_message;
  bool failing = false;   // we failed the connection ourselves
  bool we_closed = false; // our side started the closing handshake
  bool no_retry = false;  // an end that reconnecting will not heal
  bool finished = false;  // the close event has fired
  bool awaiting_pong = false;
  bool pong_owed = false; // a ping waits for its pong (see answer_ping)
  std::string owed_pong;  // the newest such ping's payload
  std::unique_ptr<asio::steady_timer> heartbeat;
  /// Messages read but not yet dispatched, because the socket is paused
  /// (at most one read's worth): they fire on resume(), and then the
  /// connection's end, if it came behind them (held_end).
  std::deque<MessagePtr> held;
  void (Core::*held_end)() = nullptr;
  /// With context takeover, this connection's compressor: each message is
  /// compressed here, on the loop, in the order they are queued.
  std::unique_ptr<Deflater> deflater;

  /// event.target: valid as long as the core is, that is while any handle
  /// is kept. Last, so the handlers it points to exist when it is made.
  WebSocket self{this, WebSocket::Self{}};

  /// Runs `f` on the loop thread: at once if this is that thread.
  template <class F> static void on_loop(F &&f) {
    asio::dispatch(loop().ctx, std::forward<F>(f));
  }

  /// The last handle went: close with 1001 (or fail a connection still
  /// opening) and let the handlers go.
  static void handles_gone(std::shared_ptr<Core> core);
  /// A handle let go of its reference: on another thread than the loop's,
  /// the loop lets go of it (a core is destroyed there only).
  static void release(std::shared_ptr<Core> core);

  // What the handles ask for.
  void send(int opcode, const char *data, std::size_t size,
            bool compress = true);
  void send_in_order(int opcode, std::string data);
  void agree_deflate();
  void request_close(std::uint16_t code, std::string reason);
  void set_paused(bool pause);

  // The connection's life, on the loop thread.
  void start_client();
  void attach(const ConnectionPtr &c);
  void hold_reads();
  void read_for_close();
  void deliver_held();
  void deliver(const MessagePtr &msg);
  void fire_low();
  void start_heartbeat();
  void beat();
  bool answer_ping(const std::string &payload);
  void send_pong(const std::string &payload);
  void queue(MessagePtr msg, std::size_t size);
  void opening_timed_out();
  void handle_open();
  void handle_message(const MessagePtr &msg);
  void handle_close();
  void handle_fail();
  void fail_connection(const std::string &message,
                       websocketpp::close::status::value code);
  void begin_close(std::uint16_t code, const std::string &reason);
  void abort_connecting();
  void finish(const std::string &error, std::uint16_t code,
              const std::string &reason, bool clean);
  bool may_reconnect(std::uint16_t code) const;
  void reconnect(std::string error, std::uint16_t code, std::string reason,
                 bool clean);
  void drop_handlers();

  template <class E>
  void fire(E &event, std::function<void(const E &)> Core::*handler);
  void fire_error(const std::string &message);
  bool listening(const char *type) const;
  void fire_control(const char *type, const std::string &payload);
};

} // namespace ws::detail

#endif // WS_DETAIL_CORE_HPP
