// The engine behind ws::ReadLine: standard input read through Asio on the
// loop, split into lines.
// SPDX-License-Identifier: MIT
#pragma once

#include "loop.hpp"

#include <array>
#include <memory>
#include <string>

#ifdef _WIN32
#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#else
#include <fcntl.h>
#endif

namespace ws {
class ReadLine;
}

namespace ws::detail {

#ifdef _WIN32
/// Standard input as the loop reads it on Windows, where it cannot wait on
/// it: IOCP takes neither a console nor a pipe opened without overlapped
/// I/O (a shell's redirections are). So a thread of its own does each
/// blocking ReadFile and posts what it read to the loop, and a read asked for
/// keeps ws::run() running as Asio's own reads do. The same two calls as
/// asio::posix::stream_descriptor, which LineReader uses elsewhere.
class StdinSource {
public:
  explicit StdinSource(asio::io_context &ctx)
      : state(std::make_shared<State>(ctx)) {}
  ~StdinSource() {
    asio::error_code ignored;
    close(ignored);
  }
  StdinSource(const StdinSource &) = delete;
  StdinSource &operator=(const StdinSource &) = delete;

  /// One read at a time; `handler` runs on the loop with what was read,
  /// asio::error::eof at the end of input, or operation_aborted after close().
  template <class Handler>
  void async_read_some(asio::mutable_buffer into, Handler handler) {
    State &s = *state;
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      s.into = into;
      s.done = std::move(handler);
      s.asked = true;
      s.work = std::make_unique<
          asio::executor_work_guard<asio::io_context::executor_type>>(
          s.ctx.get_executor());
    }
    if (!s.thread) {
      auto *keep = new std::shared_ptr<State>(state);
      s.thread = CreateThread(nullptr, 0, &State::main, keep, 0, nullptr);
      if (!s.thread) {
        delete keep;
        s.finish(asio::error_code(static_cast<int>(GetLastError()),
                                  asio::error::get_system_category()),
                 0);
        return;
      }
    }
    s.wake.notify_one();
  }

  /// Ends the read in flight with operation_aborted. The thread, if blocked
  /// in ReadFile, is told to stop (CancelSynchronousIo) and goes when it
  /// returns: what it read then is dropped, as a closed descriptor's is.
  void close(asio::error_code &ec) {
    ec.clear();
    State &s = *state;
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      if (s.closed)
        return;
      s.closed = true;
    }
    s.wake.notify_one();
    if (s.thread) {
      CancelSynchronousIo(s.thread);
      CloseHandle(s.thread);
      s.thread = nullptr;
    }
    s.finish(asio::error::operation_aborted, 0);
  }

private:
  struct State {
    explicit State(asio::io_context &c) : ctx(c) {}
    asio::io_context &ctx;
    HANDLE thread = nullptr; // the loop thread's only
    std::mutex mutex;        // guards what follows
    std::condition_variable wake;
    bool asked = false;
    bool closed = false;
    asio::mutable_buffer into;
    std::function<void(const asio::error_code &, std::size_t)> done;
    std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>>
        work;

    /// Posts the read's handler to the loop (any thread).
    void finish(const asio::error_code &ec, std::size_t n) {
      std::function<void(const asio::error_code &, std::size_t)> h;
      std::unique_ptr<
          asio::executor_work_guard<asio::io_context::executor_type>>
          w;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (!asked)
          return;
        asked = false;
        h = std::move(done);
        w = std::move(work); // released once the handler is posted
      }
      asio::post(ctx, [h = std::move(h), ec, n] { h(ec, n); });
    }

    static DWORD WINAPI main(void *arg) {
      std::shared_ptr<State> s(
          std::move(*static_cast<std::shared_ptr<State> *>(arg)));
      delete static_cast<std::shared_ptr<State> *>(arg);
      const HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
      std::array<char, 4096> chunk;
      for (;;) {
        std::size_t room;
        {
          std::unique_lock<std::mutex> lock(s->mutex);
          s->wake.wait(lock, [&] { return s->asked || s->closed; });
          if (s->closed)
            return 0;
          room = (std::min)(s->into.size(), chunk.size()); // windows.h's min
        }
        DWORD n = 0;
        const BOOL ok =
            in && in != INVALID_HANDLE_VALUE &&
            ReadFile(in, chunk.data(), static_cast<DWORD>(room), &n, nullptr);
        // No standard input at all reads as its end, as /dev/null does.
        const DWORD why = ok                                 ? 0
                          : in && in != INVALID_HANDLE_VALUE ? GetLastError()
                                                             : ERROR_HANDLE_EOF;
        std::unique_lock<std::mutex> lock(s->mutex);
        if (s->closed)
          return 0;
        // Ctrl+C ends a console read with nothing read: not the end of
        // input (that is Ctrl+Z, or a pipe's writer gone), so read again.
        if (n == 0 && why == ERROR_OPERATION_ABORTED)
          continue;
        if (n > 0)
          std::memcpy(s->into.data(), chunk.data(), n);
        lock.unlock();
        if (n > 0)
          s->finish(asio::error_code(), n);
        else if (ok || why == ERROR_BROKEN_PIPE || why == ERROR_HANDLE_EOF)
          s->finish(asio::error::eof, 0);
        else
          s->finish(asio::error_code(static_cast<int>(why),
                                     asio::error::get_system_category()),
                    0);
        if (!ok && n == 0)
          return 0; // nothing more will come
      }
    }
  };
  std::shared_ptr<State> state;
};
#endif

/// Shared with the read in flight, so it may outlive its ReadLine. Loop
/// thread only.
class LineReader : public std::enable_shared_from_this<LineReader> {
public:
  explicit LineReader(ReadLine *o) : owner(o) {
#ifndef _WIN32
    // A copy of descriptor 0, so closing ours leaves the process's stdin
    // (kept from the programs this one starts, as its sockets are).
    // Asio reads regular files too (epoll cannot watch them, and a read of
    // one never blocks).
    const int fd = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
      ended = true;
    else
      in.assign(fd);
#endif
  }

  ReadLine *owner; // nulled when the ReadLine goes
  bool paused = false;

  /// Delivers the complete lines read so far, then reads on, unless paused
  /// or closed.
  void pump();
  void close();
  void stop() {
    owner = nullptr;
    closed = true;
    asio::error_code ignored;
    in.close(ignored); // a read in flight ends with operation_aborted
  }

private:
  void fire_line(const std::string &line);

#ifdef _WIN32
  StdinSource in{loop().ctx};
#else
  asio::posix::stream_descriptor in{loop().ctx};
#endif
  std::array<char, 4096> chunk;
  std::string buffer;   // read, not yet delivered
  std::size_t next = 0; // where the undelivered part of buffer starts
  bool reading = false;
  bool ended = false; // end of input (or an error) was read
  bool closed = false;
};

} // namespace ws::detail
