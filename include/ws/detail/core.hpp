// The state behind a ws::WebSocket, shared with the websocketpp connection's
// handlers, and the mapping from websocketpp's events to the browser's.
// SPDX-License-Identifier: MIT
#pragma once

#include "../close_codes.hpp"
#include "../errors.hpp"
#include "../events.hpp"
#include "config.hpp"
#include "frame.hpp"
#include "loop.hpp"
#include "tls.hpp"
#include "url.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ws {
class WebSocket;
}

namespace ws::detail {

/// websocketpp gives no signal when it fails a connection itself: it just
/// sends a close frame whose reason is the error's message. A bad close frame
/// from the peer is answered with 1002 and one of two reasons. Any other
/// failure (a protocol error in the peer's frames, a message over
/// maxPayload) stops websocketpp reading at once, so no close frame from the
/// peer is ever read: that tells it from a peer that started the close with
/// the same code and reason, which websocketpp and Node echo back.
inline bool is_library_failure(websocketpp::close::status::value code,
                               const std::string &reason,
                               websocketpp::close::status::value remote) {
  namespace perr = websocketpp::processor::error;
  if (reason == "Invalid close code" || reason == "Invalid close reason")
    return code == websocketpp::close::status::protocol_error;
  if (remote != websocketpp::close::status::abnormal_close)
    return false;
  for (int e = perr::general; e <= perr::short_key3; ++e) {
    auto ec = perr::make_error_code(static_cast<perr::processor_errors>(e));
    if (perr::to_ws(ec) == code && ec.message() == reason)
      return true;
  }
  return false;
}

/// The limits of one connection (ClientOptions or ServerOptions).
struct Limits {
  std::uint64_t max_payload = 16 * 1024 * 1024;
  std::uint64_t max_buffered = 0; // 0: never close for a slow reader
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds close_timeout{5000};
  std::chrono::milliseconds ping_interval{0}; // 0: no heartbeat
};

class Core : public std::enable_shared_from_this<Core> {
public:
  explicit Core(bool server) : is_server(server) {}

  // Written before readyState leaves CONNECTING, constant afterwards, so any
  // thread may read them once it has seen OPEN or later.
  const bool is_server;
  std::string url;
  std::string protocol;
  std::string extensions;
  std::vector<std::string> offered; // the client's subprotocols
  Url parsed;
  bool verify = true; // check the server's certificate (wss://)
  Limits limits;
#if WS_TLS
  TlsContext tls; // wss:// clients only
#endif

  std::atomic<unsigned short> ready_state{0};
  BufferedCounter buffered = std::make_shared<std::atomic<std::uint64_t>>(0);

  // The owner the events go to; cleared (under the lock) by ~WebSocket, so a
  // handler never runs on a destroyed object.
  std::recursive_mutex owner_mutex;
  WebSocket *owner = nullptr;

  // Loop thread only.
  ConnectionPtr con;
  std::function<void()> on_finished; // the server forgets the socket
  bool failing = false;              // we failed the connection ourselves
  std::string fail_message;
  bool we_closed = false; // our side started the closing handshake
  bool finished = false;  // the close event has fired
  std::unique_ptr<asio::steady_timer> heartbeat;
  bool awaiting_pong = false;
  // Pongs we queued and the network has not taken yet (see answer_ping).
  BufferedCounter pongs = std::make_shared<std::atomic<std::uint64_t>>(0);

  /// Runs `f` on the loop thread: at once if this is that thread.
  template <class F> static void on_loop(F &&f) {
    asio::dispatch(loop().ctx, std::forward<F>(f));
  }

  void start_client();
  void attach(const ConnectionPtr &c);
  void start_heartbeat();
  void beat();
  bool answer_ping(const std::string &payload);
  void queue(const MessagePtr &msg, std::size_t size);
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

  template <class E, class H> void fire(E &event, H WebSocket::*handler);
  void fire_open();
  void fire_message(MessageEvent &e);
  void fire_error(const std::string &message);
  void fire_close(std::uint16_t code, const std::string &reason, bool clean);
};

} // namespace ws::detail
