// The bodies of detail::Core: how one connection runs on websocketpp, and how
// its events become the browser's. Included by impl/web_socket.hpp, once
// ws::WebSocket is complete.
// SPDX-License-Identifier: MIT
// No #pragma once: the guard comes after the includes. Header-only, the
// foot of ../web_socket.hpp includes impl/web_socket.hpp, which includes this
// file again; when this file came first, that second reading defines what
// follows (every class it needs is complete by then), and this one skips it.

#include "../close_codes.hpp"
#include "../errors.hpp"
#include "../web_socket.hpp"
#include "core.hpp"

#include <algorithm>
#include <random>

#if defined(__linux__)
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#endif

#ifndef WS_DETAIL_CORE_IMPL_HPP
#define WS_DETAIL_CORE_IMPL_HPP

namespace ws::detail {

namespace close_status = websocketpp::close::status;

/// RFC 6455 5.5.3 lets one pong answer several pings. A peer that sends
/// pings and never reads would otherwise grow our queue without end, so at
/// most this many pongs wait for the network; a ping past them is owed one
/// pong, with the newest such ping's payload, sent when they have gone. Ten
/// pings in one read (Autobahn 2.10) all get theirs.
constexpr std::uint64_t max_queued_pongs = 16;

inline Core::~Core() {
  // The connection outlives us (its socket was let go while it closes):
  // its handlers must not find us, nor its frames our event.
  counters->buffered.watched = false;
  counters->buffered.on_low = nullptr;
  if (con)
    con->core = nullptr;
}

inline void Core::release(std::shared_ptr<Core> core) {
  if (core && !on_loop_thread())
    asio::post(loop().ctx, [core = std::move(core)] {});
}

inline void Core::handles_gone(std::shared_ptr<Core> core) {
  unsigned short s = core->ready_state.load();
  while ((s == WebSocket::CONNECTING || s == WebSocket::OPEN) &&
         !core->ready_state.compare_exchange_weak(s, WebSocket::CLOSING)) {
  }
  // Posted, never inline: this may run inside one of the socket's handlers,
  // or on another thread.
  asio::post(loop().ctx, [core = std::move(core), s] {
    // Nobody can see the socket any more; its handlers may refer to the
    // handle that went.
    core->drop_handlers();
    if (s == WebSocket::CONNECTING)
      core->abort_connecting();
    else if (s == WebSocket::OPEN)
      core->begin_close(CloseCode::goingAway, "");
  });
}

inline void Core::drop_handlers() {
  onopen = nullptr;
  onmessage = nullptr;
  onerror = nullptr;
  onclose = nullptr;
  onreconnecting = nullptr;
  onbufferedamountlow = nullptr;
  listeners.clear();
  watch_low(*this);
}

/// Arms the bufferedamountlow check while someone listens for it. On the
/// loop thread, as handlers are assigned (or before the loop runs).
WS_DECL void watch_low(Core &core) {
  Owed &owed = core.counters->buffered;
  const bool wanted = static_cast<bool>(core.onbufferedamountlow) ||
                      core.listening("bufferedamountlow");
  if (wanted == owed.watched.load())
    return;
  if (wanted) {
    // Posted, as RTCDataChannel queues a task: a frame is let go inside
    // websocketpp's write handler, where a send() must not run.
    owed.on_low = [weak = core.weak_from_this()] {
      asio::post(loop().ctx, [weak] {
        if (auto c = weak.lock())
          c->fire_low();
      });
    };
  } else {
    owed.on_low = nullptr;
  }
  owed.watched = wanted;
}

inline void Core::fire_low() {
  const unsigned short s = ready_state.load();
  if (finished || s == WebSocket::CONNECTING || s == WebSocket::CLOSED)
    return;
  Event e;
  e.type = "bufferedamountlow";
  fire(e, &Core::onbufferedamountlow);
}

/// pause() and resume(), from any thread: the loop makes the connection's
/// reads match.
inline void Core::set_paused(bool pause) {
  paused = pause;
  on_loop([core = shared_from_this()] { core->hold_reads(); });
}

/// An open connection reads while not paused. Once closing it reads
/// regardless (read_for_close), and a connection still opening is held
/// when it opens.
inline void Core::hold_reads() {
  if (!con || ready_state.load() != WebSocket::OPEN)
    return;
  if (paused.load()) {
    con->hold_reads(true);
    return;
  }
  // The pong to a ping sent before the pause may wait unread behind what
  // the peer sent: the heartbeat starts over.
  awaiting_pong = false;
  if (held.empty() && !held_end)
    con->hold_reads(false);
  else // as a task of its own: resume() may run inside a handler
    asio::post(loop().ctx, [core = shared_from_this()] {
      if (!core->finished)
        core->deliver_held();
    });
}

/// After resume(): the messages that waited fire, in order, unless the
/// socket is paused again or stops being OPEN meanwhile; then reading goes
/// on, or the close that came behind them fires.
inline void Core::deliver_held() {
  while (!held.empty() && !paused.load() &&
         ready_state.load() == WebSocket::OPEN) {
    MessagePtr msg = std::move(held.front());
    held.pop_front();
    deliver(msg);
    if (finished)
      return; // a handler's close() ended it (see read_for_close)
  }
  if (!held.empty() && ready_state.load() == WebSocket::OPEN)
    return; // paused again
  held.clear();
  if (auto end = std::exchange(held_end, nullptr))
    (this->*end)();
  else if (con && ready_state.load() == WebSocket::OPEN && !paused.load())
    con->hold_reads(false);
}

/// The closing handshake needs the peer's close frame, wherever it is
/// behind what the peer sent: a paused socket reads again, so that close()
/// cannot hang. The messages that waited are dropped, as WHATWG drops a
/// message whose task runs once the socket is CLOSING; a close that came
/// behind them has nothing left to wait for.
inline void Core::read_for_close() {
  held.clear();
  if (auto end = std::exchange(held_end, nullptr))
    (this->*end)();
  else if (con)
    con->hold_reads(false);
}

inline void Core::send(int opcode, const char *data, std::size_t size,
                       bool compress) {
  const unsigned short s = ready_state.load();
  // send() step 1.
  if (s == WebSocket::CONNECTING)
    throw InvalidStateError(
        "Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.");
  // Steps 2-3: once closing, nothing is sent but bufferedAmount still grows.
  if (s != WebSocket::OPEN) {
    counters->buffered.fetch_add(size);
    counters->unsent.fetch_add(size);
    return;
  }
  const auto op = static_cast<websocketpp::frame::opcode::value>(opcode);
  const int mode =
      compress && size >= deflate.threshold ? deflate_mode.load() : 0;
  if (mode && !(mode & no_context_bit)) {
    send_in_order(opcode, std::string(data, size));
    return;
  }
  // Alone (no context takeover) a message compresses the same anywhere:
  // here, before posting, as framing is done.
  std::string compressed;
  if (mode)
    compressed = compress_alone(data, size, mode & 0xFF, deflate.level,
                                deflate.memLevel);
  auto msg =
      mode ? make_frame(op, compressed.data(), compressed.size(), !is_server,
                        BufferedCounter(counters, &counters->buffered), size,
                        true)
           : make_frame(op, data, size, !is_server,
                        BufferedCounter(counters, &counters->buffered), size);
  // On the loop (a handler answering), straight in; else posted to it.
  if (loop().ctx.get_executor().running_in_this_thread())
    queue(std::move(msg), size);
  else
    asio::post(loop().ctx,
               [core = shared_from_this(), msg = std::move(msg),
                size]() mutable { core->queue(std::move(msg), size); });
}

/// A message compressed with this connection's window (context takeover):
/// compressed on the loop in the order messages are queued, which is the
/// order the peer decompresses them in. bufferedAmount counts it at once.
inline void Core::send_in_order(int opcode, std::string data) {
  counters->buffered.fetch_add(data.size());
  on_loop([core = shared_from_this(), opcode, data = std::move(data)] {
    const std::size_t size = data.size();
    const int mode = core->deflate_mode.load();
    if (!core->con || !mode) { // closed (or reconnecting) meanwhile
      // Counted, never sent: as send() once closing.
      core->counters->unsent.fetch_add(size);
      return;
    }
    if (!core->deflater)
      core->deflater = std::make_unique<Deflater>(
          mode & 0xFF, core->deflate.level, core->deflate.memLevel);
    const std::string compressed =
        core->deflater->compress(data.data(), size, false);
    auto msg = make_frame(
        static_cast<websocketpp::frame::opcode::value>(opcode),
        compressed.data(), compressed.size(), !core->is_server,
        BufferedCounter(core->counters, &core->counters->buffered), size, true);
    core->counters->buffered.fetch_sub(size); // now the frame's
    core->queue(std::move(msg), size);
  });
}

/// What permessage-deflate the handshake agreed, read from the connection's
/// frame parser before forget_handshake() (the answer is in the response).
inline void Core::agree_deflate() {
  deflater.reset();
  deflate_mode =
      con->deflate && con->deflate->is_enabled() ? con->deflate->our_mode : 0;
}

/// close() steps 3-5, and the server's own close: code 0 sends a close frame
/// without a body (the peer then reports 1005).
inline void Core::request_close(std::uint16_t code, std::string reason) {
  unsigned short s = ready_state.load();
  while ((s == WebSocket::CONNECTING || s == WebSocket::OPEN) &&
         !ready_state.compare_exchange_weak(s, WebSocket::CLOSING)) {
  }
  // CLOSING or CLOSED: nothing to do. CONNECTING: fail the connection.
  if (s == WebSocket::CONNECTING)
    on_loop([core = shared_from_this()] { core->abort_connecting(); });
  else if (s == WebSocket::OPEN)
    on_loop([core = shared_from_this(), code, r = std::move(reason)] {
      core->begin_close(code, r);
    });
}

/// ClientOptions::headers and origin, checked: a header the handshake owns
/// would be overwritten by websocketpp or break the upgrade, and a line
/// break in a value would let it write headers of its own.
inline std::vector<std::pair<std::string, std::string>>
handshake_headers(const ClientOptions &options) {
  auto fail = [](const std::string &why) {
    throw SyntaxError("Failed to construct 'WebSocket': " + why);
  };
  auto check_value = [&](const std::string &name, const std::string &value) {
    if (value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos)
      fail("the value of header '" + name + "' has a line break.");
  };
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto &[name, value] : options.headers) {
    if (!is_token(name))
      fail("'" + name + "' is not a valid header name.");
    const std::string lower = ascii_lower(name);
    if (lower == "host" || lower == "upgrade" || lower == "connection" ||
        lower == "origin" || lower.rfind("sec-websocket-", 0) == 0)
      fail("the header '" + name +
           "' belongs to the WebSocket handshake (use the protocols argument "
           "for Sec-WebSocket-Protocol, ClientOptions::origin for Origin).");
    check_value(name, value);
    headers.emplace_back(name, value);
  }
  if (!options.origin.empty()) {
    check_value("Origin", options.origin);
    headers.emplace_back("Origin", options.origin);
  }
  return headers;
}

inline void Core::start_client() {
  // close() or the last handle went before the loop got here.
  if (ready_state.load() != WebSocket::CONNECTING) {
    finish("WebSocket is closed before the connection is established.",
           CloseCode::abnormalClosure, "", false);
    return;
  }
  websocketpp::lib::error_code ec;
  auto c =
      client_endpoint().get_connection(client->parsed.for_websocketpp(), ec);
  if (ec) {
    finish(ec.message(), CloseCode::abnormalClosure, "", false);
    return;
  }
  for (const auto &p : client->offered)
    c->add_subprotocol(p, ec);
  // websocketpp writes its own handshake headers over these (checked in the
  // constructor not to clash).
  for (const auto &[name, value] : client->headers)
    c->append_header(name, value);
  if (deflate.enabled)
    c->deflate_options = std::make_shared<PerMessageDeflate>(deflate);
  c->set_max_message_size(static_cast<std::size_t>(limits.maxPayload));
  // handshakeTimeout bounds every phase of the opening, with one timer.
  c->set_open_handshake_timeout(0);
  Connection *raw = c.get();
  c->time_opening(limits.handshakeTimeout, [raw] {
    if (Core *s = raw->core)
      s->opening_timed_out();
  });
  c->set_close_handshake_timeout(limits.closeTimeout.count());
  attach(c);
#if WS_TLS
  // Asked for when connect() gives the connection its URL.
  c->set_tls_init_handler([ctx = client->tls](Hdl) { return ctx; });
#endif
  if (client->proxy) {
    // websocketpp resolves and dials the proxy; the tunnel is ours (see
    // dual_socket::Tunnel), so its own proxy step is then turned off.
    c->set_proxy(client->proxy->address, ec);
    c->set_tunnel(client->proxy->tunnel);
  }
  client_endpoint().connect(c);
  if (client->proxy)
    c->set_proxy("", ec);
#if WS_TLS
  // connect() made the TLS stream; the handshake waits for TCP.
  if (c->native_tls())
    verify_peer(c->native_tls(), client->parsed.host, client->verify);
#endif
}

inline void Core::attach(const ConnectionPtr &c) {
  con = c;
  c->core = this;
  c->counters = counters;
  // Each handler finds its core through its own connection, which owns the
  // handler and so outlives every call of it. A plain pointer is all they
  // capture: std::function keeps them without allocating.
  Connection *raw = c.get();
  c->set_open_handler([raw](Hdl) {
    if (Core *s = raw->core)
      s->handle_open();
  });
  c->set_message_handler([raw](Hdl, MessagePtr msg) {
    if (Core *s = raw->core)
      s->handle_message(msg);
  });
  c->set_close_handler([raw](Hdl) {
    if (Core *s = raw->core)
      s->handle_close();
  });
  c->set_fail_handler([raw](Hdl) {
    if (Core *s = raw->core)
      s->handle_fail();
  });
  c->set_ping_handler([raw](Hdl, std::string payload) {
    Core *s = raw->core;
    if (s)
      s->fire_control("ping", payload);
    return s && s->answer_ping(payload);
  });
  c->set_pong_handler([raw](Hdl, std::string payload) {
    if (Core *s = raw->core) {
      s->awaiting_pong = false;
      s->fire_control("pong", payload);
    }
  });
}

inline void Core::start_heartbeat() {
  if (limits.pingInterval.count() <= 0)
    return;
  if (!heartbeat)
    heartbeat = std::make_unique<asio::steady_timer>(loop().ctx);
  heartbeat->expires_after(limits.pingInterval);
  std::weak_ptr<Core> weak = shared_from_this();
  heartbeat->async_wait([weak](const asio::error_code &ec) {
    if (auto s = weak.lock(); s && !ec)
      s->beat();
  });
}

/// Whether the peer's bytes reached our socket within the last `within`:
/// on a slow link a pong waits behind what the peer sends, and the peer
/// is alive while that arrives. Linux's TCP_INFO knows; elsewhere only
/// the pong counts.
inline bool heard_within(Connection &con, std::chrono::milliseconds within) {
#if defined(__linux__)
  tcp_info info{};
  socklen_t size = sizeof info;
  if (getsockopt(con.get_raw_socket().native_handle(), IPPROTO_TCP, TCP_INFO,
                 &info, &size) == 0)
    return info.tcpi_last_data_recv < within.count();
#endif
  (void)con;
  (void)within;
  return false;
}

/// One heartbeat: the last ping must have its pong by now, or the peer's
/// other bytes must still be arriving (then the ping is still out).
inline void Core::beat() {
  // Once closing, closeTimeout bounds the wait instead.
  if (finished || !con || ready_state.load() != WebSocket::OPEN)
    return;
  // Paused, a pong could not be read: the heartbeat rests.
  if (paused.load()) {
    awaiting_pong = false;
    start_heartbeat();
    return;
  }
  if (awaiting_pong && heard_within(*con, limits.pingInterval)) {
    start_heartbeat();
    return;
  }
  if (awaiting_pong) {
    failing = true;
    fail_message = "No pong came back within " +
                   std::to_string(limits.pingInterval.count()) +
                   " ms, and no other data: the connection is dead.";
    con->terminate(websocketpp::lib::error_code());
    return;
  }
  awaiting_pong = true;
  websocketpp::lib::error_code ignored;
  con->ping("", ignored);
  start_heartbeat();
}

/// Answers a ping ourselves (see max_queued_pongs). Returns false:
/// websocketpp sends nothing itself.
inline bool Core::answer_ping(const std::string &payload) {
  if (!con)
    return false;
  if (counters->pongs.load() >= max_queued_pongs) {
    pong_owed = true;
    owed_pong = payload;
    return false;
  }
  send_pong(payload);
  return false;
}

inline void Core::send_pong(const std::string &payload) {
  auto pong = make_frame(websocketpp::frame::opcode::pong, payload.data(),
                         payload.size(), !is_server,
                         BufferedCounter(counters, &counters->pongs), 1);
  // When the network has taken it, an owed pong may go out.
  struct Written {
    MessagePtr frame;
    std::weak_ptr<Core> core;
    Written(MessagePtr f, std::weak_ptr<Core> c)
        : frame(std::move(f)), core(std::move(c)) {}
    ~Written() {
      auto c = core.lock();
      if (c && c->pong_owed)
        asio::post(loop().ctx, [c] {
          if (c->pong_owed && c->con &&
              c->counters->pongs.load() < max_queued_pongs) {
            c->pong_owed = false;
            c->send_pong(c->owed_pong);
          }
        });
    }
  };
  auto written = std::make_shared<Written>(pong, weak_from_this());
  // Refused once closing: then no pong is owed.
  con->send(MessagePtr(written, pong.get()));
}

/// Hands a framed message to websocketpp, on the loop thread. A peer that has
/// not taken what is already queued past the limit is closed with 1008 and
/// the message dropped: one slow reader cannot use up the server's memory.
inline void Core::queue(MessagePtr msg, std::size_t size) {
  websocketpp::lib::error_code ec =
      websocketpp::error::make_error_code(websocketpp::error::invalid_state);
  const std::uint64_t before = counters->buffered.load() - size;
  if (max_buffered && before > max_buffered && con) {
    unsigned short s = WebSocket::OPEN;
    if (ready_state.compare_exchange_strong(s, WebSocket::CLOSING))
      begin_close(close_status::policy_violation,
                  "Too much data waiting: the peer is not reading.");
  } else if (con) {
    ec = con->send(std::move(msg)); // a reference count less per socket
  }
  // Closed before it could be queued: counted but never sent, as send()
  // does once closing.
  if (ec) {
    counters->buffered.fetch_add(size);
    counters->unsent.fetch_add(size);
  }
}

/// websocketpp keeps the upgrade request and its answer, headers and all,
/// for the connection's life, though nothing reads them once it is open
/// (a server has made its ws::Request, a client has read the answer's
/// subprotocol): about a kilobyte an idle connection need not hold. They
/// are members websocketpp shows us only as const, not const objects, so
/// emptying them is defined; it happens in the open handler, after which
/// websocketpp only reads frames.
inline void forget_handshake(Connection &c) {
  using Request = websocketpp::http::parser::request;
  using Response = websocketpp::http::parser::response;
  const_cast<Request &>(c.get_request()) = Request();
  const_cast<Response &>(c.get_response()) = Response();
}

/// handshakeTimeout passed before the connection opened: it fails, naming
/// the phase it stopped in.
inline void Core::opening_timed_out() {
  if (finished || !con || ready_state.load() != WebSocket::CONNECTING)
    return;
  const auto phase = con->phase();
  failing = true;
  fail_message = std::string(dual_socket::phase_name(phase)) +
                 " timed out after " +
                 std::to_string(limits.handshakeTimeout.count()) + " ms";
  if (client->proxy && phase == dual_socket::Phase::tunnel)
    fail_message += ": the proxy " + client->proxy->address + " did not answer";
  else if (client->proxy && !con->tunnel_asked())
    fail_message = "the proxy " + client->proxy->address +
                   " could not be reached: " + fail_message;
  auto c = con; // the fail event may let go of it (or reconnect)
  c->terminate(websocketpp::error::make_error_code(
      websocketpp::error::open_handshake_timeout));
  c->abort_opening();
}

inline void Core::handle_open() {
  con->opened();
  // websocketpp accepts any subprotocol and extension the server names; a
  // browser fails the connection unless the server chose one it offered
  // (WHATWG "establish a WebSocket connection"; Chromium also fails when it
  // offered some and the server chose none).
  const auto &offered = client->offered;
  const std::string chosen = con->get_response_header("Sec-WebSocket-Protocol");
  // protocol() is read from any thread, so it is written once: a server
  // that reconnects us with another subprotocol fails, for good.
  if (client->opened && chosen != protocol) {
    no_retry = true;
    fail_connection("Error during WebSocket handshake: the server chose the "
                    "subprotocol '" +
                        chosen + "' on reconnecting, after '" + protocol +
                        "' before",
                    close_status::blank);
    return;
  }
  if ((!chosen.empty() || !offered.empty()) &&
      std::find(offered.begin(), offered.end(), chosen) == offered.end()) {
    no_retry = true;
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
  // Our extension checked the server's answer (check_answer); with no
  // offer made it was never asked.
  const std::string ext = con->get_response_header("Sec-WebSocket-Extensions");
  const bool agreed = con->deflate && con->deflate->is_enabled();
  std::string bad;
  if (con->deflate && !con->deflate->failure.empty())
    bad = con->deflate->failure;
  else if (!ext.empty() && !agreed)
    bad = "the server chose extensions that were not offered: " + ext;
  else if (client->opened && ext != extensions)
    bad = "the server chose the extensions '" + ext +
          "' on reconnecting, after '" + extensions + "' before";
  if (!bad.empty()) {
    no_retry = true;
    fail_connection("Error during WebSocket handshake: " + bad,
                    close_status::blank);
    return;
  }
  if (!client->opened) {
    protocol = chosen;
    extensions = ext;
  }
  agree_deflate();
  if (listening("upgrade")) {
    UpgradeEvent e;
    e.type = "upgrade";
    e.request = con->get_request().raw();
    e.response = con->get_response().raw();
    fire<UpgradeEvent>(e, nullptr);
    if (ready_state.load() != WebSocket::CONNECTING || !con)
      return; // closed by a listener: its abort is under way
  }
  forget_handshake(*con);
  asio::error_code ignored;
  con->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  unsigned short expected = WebSocket::CONNECTING;
  // close() from another thread may have won; its abort is already queued.
  if (ready_state.compare_exchange_strong(expected, WebSocket::OPEN)) {
    client->opened = true;
    client->open_since = std::chrono::steady_clock::now();
    // Paused while connecting: no frame is read after the handshake.
    hold_reads();
    start_heartbeat();
    Event e;
    e.type = "open";
    fire(e, &Core::onopen);
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
  if (msg->get_compressed() && con->deflate)
    con->deflate->message_done();
  // Paused (maybe just now, on another thread), or behind messages that
  // wait: it waits too, and so does reading.
  if (paused.load() || !held.empty()) {
    held.push_back(msg);
    con->hold_reads(true);
    return;
  }
  deliver(msg);
}

/// "A WebSocket message has been received" (WHATWG), its task: the message
/// event.
inline void Core::deliver(const MessagePtr &msg) {
  const bool binary = msg->get_opcode() == websocketpp::frame::opcode::binary;
  MessageEvent e;
  e.type = "message";
  e.data = std::move(msg->get_raw_payload());
  e.isBinary = binary;
  delivering = &e;
  fire(e, &Core::onmessage);
  delivering = nullptr;
}

/// The close event, and whether an error event goes before it (WHATWG: only
/// when the user agent was required to fail the WebSocket connection).
inline void Core::handle_close() {
  if (finished)
    return;
  // The connection ended behind messages that wait for resume(): its close
  // fires after them.
  if (!held.empty()) {
    held_end = &Core::handle_close;
    return;
  }
  if (failing) { // we failed it: subprotocol, UTF-8, heartbeat
    finish(fail_message, CloseCode::abnormalClosure, "", false);
    return;
  }
  // websocketpp failed it (see its close() in config.hpp): the peer broke
  // RFC 6455 (1002, 1007; reading stops, so no close frame of the peer's
  // is read), sent a message over maxPayload (1009), or sent an invalid
  // close frame. None of the peer's text is read: it may send any reason.
  if (con->failed_with) {
    const std::string code = std::to_string(con->failed_with);
    finish(con->answered_invalid_close
               ? "Received an invalid close frame (answered with " + code + ")"
               : con->failed_why + " (closed with " + code + ")",
           CloseCode::abnormalClosure, "", false);
    return;
  }
  const auto remote = con->get_remote_close_code();
  // No close frame came: the peer dropped TCP (RFC 6455 7.1.7: that is not
  // failing the connection, so no error event, as in Chromium and Node), or
  // it did not answer our close in time.
  if (remote == close_status::abnormal_close) {
    finish("", CloseCode::abnormalClosure, "", false);
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
    if (!con->tunnel_error().empty()) {
      message = con->tunnel_error();
      const int refused = con->tunnel_status();
      no_retry = refused >= 400 && refused < 500 && refused != 429;
    } else if (status != 0 && status != 101) {
      message = "Error during WebSocket handshake: Unexpected response code: " +
                std::to_string(status);
      // The server refused us (401, 403, 404, ...): asking again will not
      // change its mind; 429 (Too Many Requests) and 5xx may.
      no_retry = status >= 400 && status < 500 && status != 429;
    }
#if WS_TLS
    else if (!con->tls_error().empty()) {
      message = client && client->verify
                    ? tls_failure(con->native_tls(), con->tls_error())
                    : "TLS handshake failed: " + con->tls_error();
      no_retry = client && client->verify &&
                 SSL_get_verify_result(con->native_tls()) != X509_V_OK;
    }
#endif
    else
      message = reason(con->get_ec());
    if (client && client->proxy && !con->tunnel_asked())
      message = "the proxy " + client->proxy->address +
                " could not be reached: " + message;
#if WS_TLS
    // The server refused our certificate (or the want of one).
    if (refused_our_certificate(con->tls_ec()) ||
        refused_our_certificate(con->get_transport_ec()))
      no_retry = true;
#endif
  }
  // A client that never opened says where it was going, as Chromium's
  // console does.
  if (client && ready_state.load() == WebSocket::CONNECTING)
    message =
        "WebSocket connection to '" + client->url + "' failed: " + message;
  finish(message, CloseCode::abnormalClosure, "", false);
}

/// RFC 6455 7.1.7 "Fail the WebSocket Connection": a close frame with `code`
/// when the connection is established (blank: drop it, as a browser does
/// during the handshake), then error and close 1006.
inline void Core::fail_connection(const std::string &message,
                                  close_status::value code) {
  failing = true;
  fail_message = message;
  read_for_close();
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
  read_for_close();
  if (!con)
    return; // the close that waited behind held messages has fired
  // Fails only if a close is already under way; its close event will come.
  websocketpp::lib::error_code ignored;
  con->close(code ? code : close_status::blank, reason, ignored);
}

inline void Core::abort_connecting() {
  no_retry = true;
  if (finished)
    return;
  if (!con) {
    // Waiting to reconnect: stop waiting. (Before the first attempt,
    // start_client() sees the state and finishes.)
    if (client && client->retry) {
      client->retry.reset(); // cancels the wait
      finish("WebSocket is closed before the connection is established.",
             CloseCode::abnormalClosure, "", false);
    }
    return;
  }
  failing = true;
  fail_message = "WebSocket is closed before the connection is established.";
  con->terminate(websocketpp::lib::error_code());
}

inline void Core::finish(const std::string &error, std::uint16_t code,
                         const std::string &reason, bool clean) {
  if (client && client->open_since != std::chrono::steady_clock::time_point()) {
    if (std::chrono::steady_clock::now() - client->open_since >=
        client->reconnect.minUptime)
      client->attempt = 0;
    client->open_since = {};
  }
  if (may_reconnect(code)) {
    // Back to CONNECTING, unless close() on another thread got here first
    // (CLOSING): then the program asked for the end.
    unsigned short s = ready_state.load();
    while ((s == WebSocket::OPEN || s == WebSocket::CONNECTING) &&
           !ready_state.compare_exchange_weak(s, WebSocket::CONNECTING)) {
    }
    if (s == WebSocket::OPEN || s == WebSocket::CONNECTING) {
      reconnect(error, code, reason, clean);
      return;
    }
  }
  finished = true;
  ready_state = WebSocket::CLOSED;
  heartbeat.reset();              // cancels the wait
  auto keep = shared_from_this(); // the server may let go of us below
  if (!error.empty())
    fire_error(error);
  CloseEvent e;
  e.type = "close";
  e.code = code;
  e.reason = reason;
  e.wasClean = clean;
  fire(e, &Core::onclose);
  // No event comes after close: let the handlers go, and with them any
  // handle to this socket they hold (JS's garbage collector would).
  drop_handlers();
  if (con)
    con->core = nullptr;
  con.reset();
  if (auto s = server.lock())
    s->forget(*this);
}

/// Whether the end of this connection is one that connecting again may heal
/// (see ReconnectOptions).
inline bool Core::may_reconnect(std::uint16_t code) const {
  if (!client || !client->reconnect.enabled || we_closed || no_retry ||
      handles.load() == 0)
    return false;
  const ReconnectOptions &r = client->reconnect;
  if (r.maxAttempts && client->attempt >= r.maxAttempts)
    return false;
  if (code == CloseCode::normalClosure)
    return false;
  const bool policy =
      code == CloseCode::policyViolation || (code >= 4000 && code <= 4999);
  return !policy || r.afterPolicyClose;
}

/// The back-off before attempt `n` (1, 2, ...): initialDelay * factor^(n-1),
/// at most maxDelay, then a random point between half and all of it.
inline std::chrono::milliseconds backoff(const ReconnectOptions &r,
                                         unsigned n) {
  double ms = static_cast<double>(r.initialDelay.count());
  const double most = static_cast<double>(r.maxDelay.count());
  for (unsigned i = 1; i < n && ms < most; ++i)
    ms *= r.factor;
  ms = std::min(ms, most);
  thread_local std::mt19937 random{std::random_device{}()};
  std::uniform_real_distribution<double> share(0.5, 1.0);
  return std::chrono::milliseconds(static_cast<long long>(ms * share(random)));
}

/// The connection ended and another attempt may heal it: the socket, back in
/// CONNECTING, fires error (if it failed) and reconnecting instead of close,
/// and connects again after the back-off.
inline void Core::reconnect(std::string error, std::uint16_t code,
                            std::string reason, bool clean) {
  // By value: they may be this connection's own fields, reset below.
  heartbeat.reset();
  if (con)
    con->core = nullptr;
  con.reset();
  failing = false;
  fail_message.clear();
  deflate_mode = 0;
  deflater.reset();
  awaiting_pong = false;
  pong_owed = false;
  // bufferedAmount is the next connection's: what was counted here but
  // never sent is gone with this one (its queued frames gave theirs back
  // when they were let go), so a producer that waits for it to drain is
  // not stalled for good by bytes that will never leave.
  counters->buffered.fetch_sub(counters->unsent.exchange(0));
  const unsigned attempt = ++client->attempt;
  const auto delay = backoff(client->reconnect, attempt);
  // Armed before the events: close() in a handler finds the wait to end.
  client->retry = std::make_unique<asio::steady_timer>(loop().ctx, delay);
  client->retry->async_wait(
      [self = shared_from_this()](const asio::error_code &ec) {
        if (ec)
          return; // cancelled: close() or the last handle
        self->client->retry.reset();
        self->start_client();
      });
  auto keep = shared_from_this(); // a handler may let go of the socket
  if (!error.empty())
    fire_error(error);
  if (!client->retry)
    return; // an error handler called close()
  ReconnectingEvent e;
  e.type = "reconnecting";
  e.code = code;
  e.reason = reason;
  e.wasClean = clean;
  e.attempt = attempt;
  e.delay = delay;
  fire(e, &Core::onreconnecting);
}

inline void Core::fire_error(const std::string &message) {
  ErrorEvent e;
  e.type = "error";
  e.message = message;
  fire(e, &Core::onerror);
}

inline bool Core::listening(const char *type) const {
  return std::any_of(listeners.begin(), listeners.end(),
                     [&](const Listener &l) { return l.type == type; });
}

/// Node ws's 'ping' and 'pong' events, for the listeners that want them.
inline void Core::fire_control(const char *type, const std::string &payload) {
  if (!listening(type))
    return;
  MessageEvent e;
  e.type = type;
  e.data = payload;
  e.isBinary = true;
  fire<MessageEvent>(e, nullptr);
}

template <class E>
void Core::fire(E &event, std::function<void(const E &)> Core::*handler) {
  // The user let go of every handle: nothing may run (the handlers may
  // refer to the handle that went). The core outlives this call even so:
  // the last handle, let go inside a handler, hands its reference to a
  // posted task (handles_gone), and no other reference ends here.
  if (handles.load() == 0)
    return;
  event.target = &self;
  // DOM dispatch: the listeners present now, in order; one removed by an
  // earlier listener (or by the onX handler) does not run, one added does
  // not run this time.
  std::vector<std::uint64_t> ids;
  for (const auto &l : listeners)
    if (l.type == event.type)
      ids.push_back(l.id);
  // A copy: the handler may assign itself or drop the socket. Events with
  // no onX attribute (ping, pong, upgrade) have listeners only. With no
  // listener the handler is the last to see the event, which it may then
  // take from (WebSocket::takeable()).
  if (handler)
    if (auto h = this->*handler)
      guarded([&] { h(event); });
  for (auto id : ids) {
    if (handles.load() == 0)
      return; // a listener let go of the socket
    auto it = std::find_if(listeners.begin(), listeners.end(),
                           [&](const Listener &l) { return l.id == id; });
    if (it == listeners.end())
      continue;
    auto fn = it->fn;
    guarded([&] { fn(event); });
  }
}

inline void Topics::subscribe(Core &socket, const std::string &topic) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (socket.topics_ended || !socket.subscribed.insert(topic).second)
    return;
  auto &members = topics_[topic];
  members.insert(&socket);
  if (members.size() == 1 && changed)
    changed(topic);
}

inline void Topics::unsubscribe(Core &socket, const std::string &topic) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (socket.subscribed.erase(topic))
    leave(socket, topic);
}

inline void Topics::leave(Core &socket, const std::string &topic) {
  auto it = topics_.find(topic);
  it->second.erase(&socket);
  if (it->second.empty()) {
    topics_.erase(it);
    if (changed)
      changed(topic);
  }
}

inline bool Topics::subscribed(const Core &socket, const std::string &topic) {
  std::lock_guard<std::mutex> lock(mutex_);
  return socket.subscribed.count(topic) > 0;
}

inline std::vector<std::string> Topics::of(const Core &socket) {
  std::lock_guard<std::mutex> lock(mutex_);
  return {socket.subscribed.begin(), socket.subscribed.end()};
}

inline std::size_t Topics::count(const std::string &topic) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = topics_.find(topic);
  return it == topics_.end() ? 0 : it->second.size();
}

inline void Topics::end(Core &socket) {
  std::lock_guard<std::mutex> lock(mutex_);
  socket.topics_ended = true;
  for (const auto &topic : socket.subscribed)
    leave(socket, topic);
  socket.subscribed.clear();
}

inline void Topics::subscribers(const std::string &topic, const Core *except,
                                std::vector<Core *> &out) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = topics_.find(topic);
  if (it == topics_.end())
    return;
  out.reserve(out.size() + it->second.size());
  for (Core *c : it->second)
    if (c != except)
      out.push_back(c);
}

} // namespace ws::detail

#endif // WS_DETAIL_CORE_IMPL_HPP
