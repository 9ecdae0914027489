// ws::WebSocketStream: WHATWG's WebSocketStream, a WebSocket whose reading
// and writing carry backpressure, awaited in C++20 coroutines.
// (https://websockets.spec.whatwg.org/#the-websocketstream-interface)
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#include "task.hpp"

#include "errors.hpp"
#include "events.hpp"
#include "options.hpp"
#include "web_socket.hpp"

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ws {

/// JS: WebSocketCloseInfo, what close() sends and closed() gives.
struct WebSocketCloseInfo {
  /// 0: none (JS: the member left out). close() then sends no code, or
  /// 1000 if there is a reason; closed() gives 1005 for a close frame that
  /// had none.
  std::uint16_t closeCode = 0;
  // `{}`: g++ 12 -Wextra warns of a member a designated initializer
  // leaves out unless it has a default member initializer.
  std::string reason{};
};

namespace detail {
struct Unchecked {};
} // namespace detail

/// JS: WebSocketError, a DOMException named "WebSocketError": opened() and
/// closed() throw it for a handshake that failed and a connection that did
/// not close cleanly (closeCode() 1006), as the JS promises reject with it.
class WebSocketError : public DOMException {
public:
  /// JS: new WebSocketError(message, init). Throws InvalidAccessError for
  /// a closeCode other than 1000 or 3000-4999, SyntaxError for a reason
  /// over 123 bytes; a reason without a code means 1000.
  explicit WebSocketError(const std::string &message = "",
                          const WebSocketCloseInfo &init = {})
      : DOMException("WebSocketError", message), reason_(init.reason) {
    if (init.closeCode || !init.reason.empty()) {
      code_ = init.closeCode ? init.closeCode : 1000;
      detail::check_close(*code_, init.reason,
                          "Failed to construct 'WebSocketError'");
    }
  }
  /// What the library itself reports: any code, 1006 among them.
  WebSocketError(const std::string &message, std::uint16_t code,
                 std::string reason, detail::Unchecked)
      : DOMException("WebSocketError", message), code_(code),
        reason_(std::move(reason)) {}

  /// JS: error.closeCode (null: none).
  std::optional<std::uint16_t> closeCode() const noexcept { return code_; }
  /// JS: error.reason.
  const std::string &reason() const noexcept { return reason_; }

private:
  std::optional<std::uint16_t> code_;
  std::string reason_;
};

/// A message the readable gives (JS: a string or an ArrayBuffer): `data`
/// holds its bytes, `isBinary` tells a binary message from a text one,
/// whose data is always UTF-8. Write one back to send it as it came.
struct Message {
  std::string data;
  bool isBinary = false;
  /// The payload as a Binary, for code that wants bytes, not text.
  Binary binary() const {
    const auto *bytes = reinterpret_cast<const std::uint8_t *>(data.data());
    return Binary(bytes, bytes + data.size());
  }
};

/// JS: ReadableStreamReadResult, what reader.read() gives.
struct ReadResult {
  Message value;
  /// The peer has closed and every message it sent has been read.
  bool done = false;
};

/// JS: new WebSocketStream(url, options)'s options, and ws's own.
struct WebSocketStreamOptions {
  /// JS: protocols, the subprotocols offered.
  std::vector<std::string> protocols{};
  /// ws: everything else a client socket takes (ws::ClientOptions), but
  /// reconnect: a stream ends with its connection.
  ClientOptions client{};
  /// ws: the readable's high-water mark, in messages (Chromium's, 1).
  /// Once this many wait unread the socket stops reading
  /// (WebSocket::pause()), so the peer's TCP window fills; reading goes on
  /// below it. What may wait in memory is this many messages and one read
  /// of the socket (64 KiB of frames, or the one message it completes).
  std::size_t readableHighWaterMark = 1;
  /// ws: the writable's high-water mark, in messages (JS's default, 1):
  /// writer.desiredSize() is this less the writes not yet sent.
  std::size_t writableHighWaterMark = 1;
};

class WebSocketStream;
class ReadableStream;
class WritableStream;

namespace detail {

class StreamState;

/// A counted reference to a StreamState: what a WebSocketStream, its
/// streams, readers, writers and awaiters hold. Not a std::shared_ptr: the
/// state is used on the loop thread only, and a shared_ptr's atomic count
/// (read(), ready() and write() each copy a reference) cost the echo
/// benchmark more per message than the rest of the stream's bookkeeping.
class StreamRef {
public:
  StreamRef() = default;
  explicit StreamRef(StreamState *state) noexcept; // takes the first
  StreamRef(const StreamRef &other) noexcept;
  StreamRef(StreamRef &&other) noexcept
      : state_(std::exchange(other.state_, nullptr)) {}
  StreamRef &operator=(StreamRef other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~StreamRef();
  StreamState *operator->() const noexcept { return state_; }
  explicit operator bool() const noexcept { return state_ != nullptr; }

private:
  StreamState *state_ = nullptr;
};

/// What a WebSocketStream and its streams, readers and writers share: the
/// socket and the coroutines that wait on it. Loop thread only. The
/// socket's handlers do not own it, so it goes, and the socket closes,
/// when the last of those goes.
class StreamState {
public:
  StreamState(WebSocket socket, const WebSocketStreamOptions &options);
  ~StreamState();
  StreamState(const StreamState &) = delete;
  StreamState &operator=(const StreamState &) = delete;
  void listen();

  std::size_t refs = 1; // StreamRef's count
  WebSocket socket;
  const std::size_t readable_hwm, writable_hwm;
  bool opened = false, ended = false;
  std::exception_ptr failure; // a WebSocketError, once ended uncleanly
  WebSocketCloseInfo close_info;
  std::string error_message;
  std::vector<std::coroutine_handle<>> open_waiters, close_waiters;

  // The readable: messages read from the socket and not yet from it, and
  // the reads waiting for one. A waiting read takes its message itself
  // when resumed (its awaiter holds nothing the socket writes to).
  std::deque<ws::Message> queue;
  std::deque<std::coroutine_handle<>> reads;
  bool reader_locked = false, cancelled = false, paused = false;
  bool can_take() const { return !queue.empty() || cancelled || ended; }
  ReadResult take();

  // The writable: bytes sent and where each write ends in that count; a
  // write is done once the socket's bufferedAmount no longer holds it.
  std::uint64_t sent = 0;
  std::deque<std::uint64_t> unsent;
  struct Write {
    std::uint64_t end;
    std::coroutine_handle<> waiter;
  };
  std::deque<Write> writes;
  std::vector<std::coroutine_handle<>> ready_waiters;
  bool writer_locked = false, writable_closed = false;
  static constexpr std::uint64_t never = ~std::uint64_t(0);
  std::uint64_t low_threshold = never; // the socket's, as set in watch_writes
  std::uint64_t written() const;
  bool writable() const;
  void sent_one(std::size_t size);
  std::uint64_t prune();
  void progress();
  void watch_writes();
  std::int64_t desired() const {
    return static_cast<std::int64_t>(writable_hwm) -
           static_cast<std::int64_t>(unsent.size());
  }

  void on_open();
  void on_message(const MessageEvent &event);
  void on_close(const CloseEvent &event);
  void close(std::uint16_t code, const std::string &reason);
  void cancel_readable();
  std::exception_ptr closed_error(const char *what) const;
};

} // namespace detail

/// JS: ReadableStreamDefaultReader, from readable.getReader().
class ReadableStreamDefaultReader {
public:
  /// JS: await reader.read(): the next message, or {done: true} once the
  /// peer has closed (or the readable was cancelled) and none is left. A
  /// connection that ended uncleanly throws its WebSocketError after the
  /// messages that arrived before it (JS drops those: ws keeps them).
  auto read();
  /// JS: reader.cancel(): closes the connection (no close code).
  void cancel() { state_->cancel_readable(); }
  /// JS: reader.releaseLock(): the readable may have another reader.
  void releaseLock() {
    if (state_)
      state_->reader_locked = false;
  }

private:
  friend class ReadableStream;
  explicit ReadableStreamDefaultReader(detail::StreamRef s)
      : state_(std::move(s)) {}
  detail::StreamRef state_;
};

/// JS: ReadableStream, the messages the peer sends.
class ReadableStream {
public:
  /// JS: readable.getReader(). Throws ws::TypeError if it has one.
  ReadableStreamDefaultReader getReader() {
    if (state_->reader_locked)
      throw TypeError("Failed to execute 'getReader' on 'ReadableStream': "
                      "ReadableStreamDefaultReader constructor can only "
                      "accept readable streams that are not yet locked to a "
                      "reader");
    state_->reader_locked = true;
    return ReadableStreamDefaultReader(state_);
  }
  /// JS: readable.locked.
  bool locked() const { return state_->reader_locked; }
  /// JS: readable.cancel(): closes the connection (no close code).
  void cancel() { state_->cancel_readable(); }
  /// JS: await readable.pipeTo(writable): writes every message read, text
  /// or binary as it came, until the readable ends, then closes the
  /// writable (its connection) and waits for that to end. It waits for
  /// ready() before each write, not for the write: up to the writable's
  /// high-water mark in flight (raise writableHighWaterMark for
  /// throughput: at 1, each write waits for the one before). A readable
  /// that fails aborts the writable, a writable that fails cancels the
  /// readable, and the pipe throws that error; as in JS, both are locked
  /// until it ends. Throws ws::TypeError now if either is locked.
  /// `wss.readable.pipeTo(wss.writable)` is an echo.
  Task<void> pipeTo(WritableStream destination);

private:
  friend class detail::StreamState;
  friend class WebSocketStream;
  explicit ReadableStream(detail::StreamRef s) : state_(std::move(s)) {}
  detail::StreamRef state_;
};

/// JS: WritableStreamDefaultWriter, from writable.getWriter().
class WritableStreamDefaultWriter {
public:
  /// What write() gives: awaiting it waits until the message has gone to
  /// the operating system, and throws if the connection ended first.
  struct Written {
    detail::StreamRef state;
    std::uint64_t end;
    bool await_ready() const { return state->written() >= end || state->ended; }
    void await_suspend(std::coroutine_handle<> h) {
      state->writes.push_back({end, h});
      state->watch_writes();
    }
    void await_resume() const {
      if (state->written() < end)
        std::rethrow_exception(state->closed_error(
            "Failed to execute 'write' on 'WritableStreamDefaultWriter'"));
    }
  };

  /// JS: await writer.write(text): a text message (ws::SyntaxError if it
  /// is not UTF-8). It is sent at once; awaiting the result waits until it
  /// has gone to the operating system, so a loop that awaits each write
  /// queues one message at most (and makes a system call per message: for
  /// throughput, co_await ready() and write without awaiting, as pipeTo()
  /// does, with a writableHighWaterMark above 1). Throws
  /// ws::InvalidStateError, where JS rejects, once the connection is
  /// closing or closed.
  auto write(std::string_view text) { return send(text, false); }
  auto write(const char *text) { return send(text, false); }
  auto write(const std::string &text) { return send(text, false); }
  /// JS: await writer.write(arrayBuffer): a binary message.
  auto write(const Binary &data) {
    return send(std::string_view(reinterpret_cast<const char *>(data.data()),
                                 data.size()),
                true);
  }
  /// A message as the readable gave it: text or binary as it came.
  auto write(const Message &message) {
    return send(message.data, message.isBinary);
  }
  /// JS: await writer.ready: until desiredSize() is above 0.
  auto ready();
  /// JS: writer.desiredSize: the writable's high-water mark less the
  /// writes not yet sent; 0 once closed, null once the connection failed.
  std::optional<std::int64_t> desiredSize() const {
    if (state_->failure)
      return std::nullopt;
    if (!state_->writable())
      return 0;
    state_->prune();
    return state_->desired();
  }
  /// JS: await writer.close(): closes the connection (no close code) and
  /// waits for the closing handshake to end; throws its WebSocketError if
  /// it did not end cleanly.
  auto close();
  /// JS: writer.abort(): closes the connection (no close code).
  void abort() { state_->close(0, {}); }
  /// JS: writer.releaseLock(): the writable may have another writer.
  void releaseLock() {
    if (state_)
      state_->writer_locked = false;
  }

private:
  friend class WritableStream;
  explicit WritableStreamDefaultWriter(detail::StreamRef s)
      : state_(std::move(s)) {}
  Written send(std::string_view data, bool binary);
  detail::StreamRef state_;
};

/// JS: WritableStream, the messages sent to the peer.
class WritableStream {
public:
  /// JS: writable.getWriter(). Throws ws::TypeError if it has one.
  WritableStreamDefaultWriter getWriter() {
    if (state_->writer_locked)
      throw TypeError("Failed to execute 'getWriter' on 'WritableStream': "
                      "Cannot create writer when WritableStream is locked");
    state_->writer_locked = true;
    return WritableStreamDefaultWriter(state_);
  }
  /// JS: writable.locked.
  bool locked() const { return state_->writer_locked; }
  /// JS: writable.abort(): closes the connection (no close code).
  void abort() { state_->close(0, {}); }

private:
  friend class detail::StreamState;
  friend class WebSocketStream;
  explicit WritableStream(detail::StreamRef s) : state_(std::move(s)) {}
  detail::StreamRef state_;
};

/// JS: WebSocketOpenInfo, what opened() gives.
struct WebSocketOpenInfo {
  ReadableStream readable;
  WritableStream writable;
  std::string extensions;
  std::string protocol;
};

/// JS: WebSocketStream (https://websockets.spec.whatwg.org/#websocketstream).
///
/// A handle, as a ws::WebSocket is: copies share the connection, which
/// closes (with no close code, as a browser closes a collected socket)
/// when the last handle to it, its streams, readers and writers goes.
///
/// Threads: a WebSocketStream, its streams, readers and writers are used
/// on the loop thread: in a task that ws::spawn started there or before
/// the loop ran, which ws resumes on the loop thread.
class WebSocketStream {
public:
  /// JS: new WebSocketStream(url, options). Throws ws::SyntaxError for a
  /// URL or protocol list the WebSocket constructor refuses (and what else
  /// that constructor throws for options.client), ws::NotSupportedError
  /// for options.client.reconnect.
  explicit WebSocketStream(const std::string &url,
                           const WebSocketStreamOptions &options = {})
      : state_(make(client_socket(url, options), options)) {}
  /// ws: a stream over a socket already made, a ws::Server's in its
  /// onconnection above all, so that an accept handler can be a coroutine.
  /// It takes over the socket's handlers (onopen, onmessage, onerror,
  /// onclose, onbufferedamountlow): adopt it before any message fires,
  /// that is in onconnection or in a task spawned there, before its first
  /// co_await. Throws ws::InvalidStateError for a socket closing or closed.
  explicit WebSocketStream(WebSocket socket,
                           const WebSocketStreamOptions &options = {})
      : state_(make(adoptable(std::move(socket)), options)) {}

  /// JS: wss.url.
  const std::string &url() const { return state_->socket.url(); }

  /// JS: await wss.opened: the streams once the connection is open. Throws
  /// a WebSocketError if it failed to open.
  auto opened();
  /// JS: await wss.closed: how the peer closed. Throws a WebSocketError
  /// (closeCode() 1006) if the connection failed or ended uncleanly.
  auto closed();
  /// JS: wss.close({closeCode, reason}). Throws ws::InvalidAccessError and
  /// ws::SyntaxError as WebSocket::close() does. While connecting it
  /// abandons the connection: opened() and closed() throw.
  void close(const WebSocketCloseInfo &info = {}) {
    if (info.closeCode || !info.reason.empty())
      detail::check_close(info.closeCode ? info.closeCode : 1000, info.reason,
                          "Failed to execute 'close' on 'WebSocketStream'");
    state_->close(info.closeCode, info.reason);
  }

  /// The socket underneath, for what the stream API does not have
  /// (bufferedAmount(), topics on a server's socket). Send only through
  /// the writer: its writes count what the stream sent.
  const WebSocket &socket() const { return state_->socket; }

private:
  static WebSocket client_socket(const std::string &url,
                                 const WebSocketStreamOptions &options) {
    if (options.client.reconnect.enabled)
      throw NotSupportedError("WebSocketStream does not reconnect: its "
                              "streams end with the connection");
    try {
      return WebSocket(url, options.protocols, options.client);
    } catch (const SyntaxError &e) {
      // The same error, named for the constructor the program called, as
      // Chromium names it.
      const std::string ours = "Failed to construct 'WebSocket'";
      std::string message = e.message();
      if (message.rfind(ours, 0) == 0)
        message.replace(0, ours.size(),
                        "Failed to construct 'WebSocketStream'");
      throw SyntaxError(message);
    }
  }
  static WebSocket adoptable(WebSocket socket) {
    const auto s = socket.readyState();
    if (s == WebSocket::CLOSING || s == WebSocket::CLOSED)
      throw InvalidStateError("Failed to construct 'WebSocketStream': the "
                              "socket is already closing or closed");
    return socket;
  }
  static detail::StreamRef make(WebSocket socket,
                                const WebSocketStreamOptions &options) {
    detail::StreamRef state(
        new detail::StreamState(std::move(socket), options));
    state->listen();
    return state;
  }
  detail::StreamRef state_;
};

// ---------------------------------------------------------------------------
// The rest is how it works.

namespace detail {

/// Resumes each waiting coroutine, after taking them out of `waiters`: a
/// resumed one may wait again.
inline void resume_all(std::vector<std::coroutine_handle<>> &waiters) {
  for (auto h : std::exchange(waiters, {}))
    h.resume();
}

inline StreamRef::StreamRef(StreamState *state) noexcept : state_(state) {}

inline StreamRef::StreamRef(const StreamRef &other) noexcept
    : state_(other.state_) {
  if (state_)
    ++state_->refs;
}

inline StreamRef::~StreamRef() {
  if (state_ && --state_->refs == 0)
    delete state_;
}

inline StreamState::StreamState(WebSocket s,
                                const WebSocketStreamOptions &options)
    : socket(std::move(s)),
      readable_hwm(options.readableHighWaterMark ? options.readableHighWaterMark
                                                 : 1),
      writable_hwm(options.writableHighWaterMark) {}

inline StreamState::~StreamState() {
  socket.onopen = nullptr;
  socket.onmessage = nullptr;
  socket.onerror = nullptr;
  socket.onclose = nullptr;
  socket.onbufferedamountlow = nullptr;
  // WHATWG: a socket collected while open starts the closing handshake
  // with no code; one still connecting is abandoned.
  if (!ended)
    socket.close();
}

inline void StreamState::listen() {
  // The handlers hold a plain pointer: small and trivially copyable, so the
  // std::function the socket copies for each event needs no allocation,
  // and no reference count changes per message. The state takes them off
  // the socket when it goes (~StreamState); while a handler runs, what it
  // resumes may let the state go, so none touches it after a resume.
  socket.onopen = [s = this](const Event &) { s->on_open(); };
  socket.onmessage = [s = this](const MessageEvent &e) { s->on_message(e); };
  socket.onerror = [s = this](const ErrorEvent &e) {
    s->error_message = e.message;
  };
  socket.onclose = [s = this](const CloseEvent &e) { s->on_close(e); };
  socket.onbufferedamountlow = [s = this](const Event &) { s->progress(); };
  socket.setBufferedAmountLowThreshold(low_threshold);
  if (socket.readyState() == WebSocket::OPEN)
    opened = true; // adopted open: no open event comes
}

inline void StreamState::on_open() {
  opened = true;
  resume_all(open_waiters);
}

inline void StreamState::on_message(const MessageEvent &event) {
  if (cancelled)
    return;
  // Nothing sees the socket's own event after this handler unless a
  // listener does: then the queue copies the payload, else it takes it.
  if (MessageEvent *mine = socket.takeable(event))
    queue.push_back(ws::Message{std::move(mine->data), event.isBinary});
  else
    queue.push_back(ws::Message{event.data, event.isBinary});
  if (!reads.empty()) {
    auto read = reads.front();
    reads.pop_front();
    read.resume(); // it takes the message
  } else if (queue.size() >= readable_hwm && !paused) {
    // The readable is full: TCP pushes back until it is read below its
    // mark.
    paused = true;
    socket.pause();
  }
}

/// A read that need not wait (can_take()): a message, or the end.
inline ReadResult StreamState::take() {
  ReadResult r;
  if (!queue.empty()) {
    r.value = std::move(queue.front());
    queue.pop_front();
    if (paused && queue.size() < readable_hwm) {
      paused = false;
      socket.resume();
    }
    return r;
  }
  if (!cancelled && failure)
    std::rethrow_exception(failure);
  r.done = true;
  return r;
}

inline void StreamState::on_close(const CloseEvent &event) {
  ended = true;
  if (!opened)
    failure = std::make_exception_ptr(WebSocketError(
        error_message.empty() ? "The WebSocket failed to open" : error_message,
        event.code, event.reason, Unchecked{}));
  else if (!event.wasClean)
    failure = std::make_exception_ptr(
        WebSocketError(error_message.empty() ? "The connection closed uncleanly"
                                             : error_message,
                       event.code, event.reason, Unchecked{}));
  else
    close_info = {event.code, event.reason};
  // Every waiting coroutine goes on: the reads end (none waits while a
  // message does), the writes not sent fail, and opened and closed settle.
  std::vector<std::coroutine_handle<>> waiting(reads.begin(), reads.end());
  reads.clear();
  for (auto &w : std::exchange(writes, {}))
    if (w.waiter)
      waiting.push_back(w.waiter);
  for (auto h : std::exchange(ready_waiters, {}))
    waiting.push_back(h);
  for (auto h : std::exchange(open_waiters, {}))
    waiting.push_back(h);
  for (auto h : std::exchange(close_waiters, {}))
    waiting.push_back(h);
  for (auto h : waiting)
    h.resume();
}

inline void StreamState::close(std::uint16_t code, const std::string &reason) {
  writable_closed = true;
  if (code)
    socket.close(code, reason);
  else if (!reason.empty())
    socket.close(1000, reason);
  else
    socket.close();
}

inline void StreamState::cancel_readable() {
  cancelled = true;
  queue.clear();
  std::vector<std::coroutine_handle<>> waiting(reads.begin(), reads.end());
  reads.clear();
  close(0, {});
  for (auto h : waiting)
    h.resume();
}

inline std::exception_ptr StreamState::closed_error(const char *what) const {
  if (failure)
    return failure;
  return std::make_exception_ptr(InvalidStateError(
      std::string(what) + ": the WebSocketStream is closing or closed"));
}

inline std::uint64_t StreamState::written() const {
  const std::uint64_t queued = socket.bufferedAmount();
  return queued < sent ? sent - queued : 0;
}

inline bool StreamState::writable() const {
  return !writable_closed && !ended && socket.readyState() == WebSocket::OPEN;
}

inline void StreamState::sent_one(std::size_t size) {
  sent += size;
  unsent.push_back(sent);
  progress();
}

/// Forgets the writes the network has taken; gives how much it has.
inline std::uint64_t StreamState::prune() {
  const std::uint64_t done = written();
  while (!unsent.empty() && unsent.front() <= done)
    unsent.pop_front();
  return done;
}

/// The network took some of what was sent: the writes it took are done.
inline void StreamState::progress() {
  const std::uint64_t done = prune();
  std::vector<std::coroutine_handle<>> waiting;
  while (!writes.empty() && writes.front().end <= done) {
    if (writes.front().waiter)
      waiting.push_back(writes.front().waiter);
    writes.pop_front();
  }
  if (desired() > 0)
    for (auto h : std::exchange(ready_waiters, {}))
      waiting.push_back(h);
  watch_writes();
  for (auto h : waiting)
    h.resume();
}

/// bufferedamountlow fires (a posted event) when the network takes the
/// oldest write left, but only while a coroutine waits on a write or on
/// ready(): a writer that awaits neither (pipeTo's way, once below the
/// high-water mark) pays no event per write. Call after prune(), so the
/// oldest write left has not gone yet and the crossing is still to come.
inline void StreamState::watch_writes() {
  std::uint64_t low = never;
  if (!writes.empty() || !ready_waiters.empty())
    low = unsent.empty() ? 0 : sent - unsent.front();
  if (low != low_threshold)
    socket.setBufferedAmountLowThreshold(low_threshold = low);
}

} // namespace detail

inline auto ReadableStreamDefaultReader::read() {
  struct Awaiter {
    detail::StreamRef state;
    bool await_ready() const { return state->can_take(); }
    void await_suspend(std::coroutine_handle<> h) { state->reads.push_back(h); }
    ReadResult await_resume() { return state->take(); }
  };
  if (!state_)
    throw TypeError("Failed to execute 'read' on "
                    "'ReadableStreamDefaultReader': This reader has been "
                    "released");
  return Awaiter{state_};
}

inline WritableStreamDefaultWriter::Written
WritableStreamDefaultWriter::send(std::string_view data, bool binary) {
  if (!state_->writable())
    std::rethrow_exception(state_->closed_error(
        "Failed to execute 'write' on 'WritableStreamDefaultWriter'"));
  state_->socket.send(data, SendOptions{binary, true});
  state_->sent_one(data.size());
  return Written{state_, state_->sent};
}

inline auto WritableStreamDefaultWriter::ready() {
  struct Awaiter {
    detail::StreamRef state;
    bool await_ready() const {
      if (!state->writable())
        return true;
      state->prune(); // desired() counts the writes not yet sent
      return state->desired() > 0;
    }
    void await_suspend(std::coroutine_handle<> h) {
      state->ready_waiters.push_back(h);
      state->watch_writes();
    }
    void await_resume() const {
      if (!state->writable())
        std::rethrow_exception(
            state->closed_error("WritableStreamDefaultWriter's ready"));
    }
  };
  return Awaiter{state_};
}

inline auto WritableStreamDefaultWriter::close() {
  state_->close(0, {});
  struct Awaiter {
    detail::StreamRef state;
    bool await_ready() const { return state->ended; }
    void await_suspend(std::coroutine_handle<> h) {
      state->close_waiters.push_back(h);
    }
    void await_resume() const {
      if (state->failure)
        std::rethrow_exception(state->failure);
    }
  };
  return Awaiter{state_};
}

inline auto WebSocketStream::opened() {
  struct Awaiter {
    detail::StreamRef state;
    bool await_ready() const { return state->opened || state->ended; }
    void await_suspend(std::coroutine_handle<> h) {
      state->open_waiters.push_back(h);
    }
    WebSocketOpenInfo await_resume() const {
      if (!state->opened)
        std::rethrow_exception(state->failure);
      return {ReadableStream(state), WritableStream(state),
              state->socket.extensions(), state->socket.protocol()};
    }
  };
  return Awaiter{state_};
}

inline auto WebSocketStream::closed() {
  struct Awaiter {
    detail::StreamRef state;
    bool await_ready() const { return state->ended; }
    void await_suspend(std::coroutine_handle<> h) {
      state->close_waiters.push_back(h);
    }
    WebSocketCloseInfo await_resume() const {
      if (state->failure)
        std::rethrow_exception(state->failure);
      return state->close_info;
    }
  };
  return Awaiter{state_};
}

namespace detail {

/// pipeTo()'s loop, over the reader and writer it took (the streams stay
/// locked while it runs).
inline Task<void> pipe(ReadableStreamDefaultReader reader,
                       WritableStreamDefaultWriter writer) {
  struct Unlock {
    ReadableStreamDefaultReader &reader;
    WritableStreamDefaultWriter &writer;
    ~Unlock() {
      reader.releaseLock();
      writer.releaseLock();
    }
  } unlock{reader, writer};
  for (;;) {
    ReadResult r;
    try {
      r = co_await reader.read();
    } catch (...) {
      writer.abort(); // the source failed: so does the destination
      throw;
    }
    if (r.done)
      break;
    try {
      co_await writer.ready();
      writer.write(r.value);
    } catch (...) {
      reader.cancel(); // the destination failed: the source is cancelled
      throw;
    }
  }
  co_await writer.close();
}

} // namespace detail

inline Task<void> ReadableStream::pipeTo(WritableStream destination) {
  // Both lock now, as in JS, not when the task first runs.
  auto reader = getReader();
  std::optional<WritableStreamDefaultWriter> writer;
  try {
    writer.emplace(destination.getWriter());
  } catch (...) {
    reader.releaseLock();
    throw;
  }
  return detail::pipe(std::move(reader), std::move(*writer));
}

} // namespace ws
