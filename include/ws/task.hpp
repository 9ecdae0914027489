// ws::Task and ws::spawn: the coroutines ws::WebSocketStream is awaited in
// (C++20), as a JS async function is awaited.
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#if __cplusplus < 202002L || !defined(__cpp_impl_coroutine)
#error                                                                         \
    "<ws/task.hpp> and <ws/stream.hpp> need C++20 coroutines: compile this file with -std=c++20 (<ws/websocket.hpp> needs only C++17)"
#endif

#include "event_loop.hpp"

#include <chrono>
#include <coroutine>
#include <exception>
#include <utility>
#include <variant>

namespace ws {

/// A coroutine that gives a T (JS: the Promise an async function returns).
/// Lazy: it starts when awaited (`co_await task`) or spawned, and runs on
/// the thread that resumes it, the loop's for everything ws resumes.
/// Move-only; what it throws comes out of `co_await`.
template <class T = void> class [[nodiscard]] Task;

namespace detail {

template <class T> struct TaskResult {
  std::variant<std::monostate, T, std::exception_ptr> result;
  template <class U> void return_value(U &&value) {
    result.template emplace<1>(std::forward<U>(value));
  }
  void unhandled_exception() noexcept {
    result.template emplace<2>(std::current_exception());
  }
  T take() {
    if (result.index() == 2)
      std::rethrow_exception(std::get<2>(result));
    return std::move(std::get<1>(result));
  }
};

template <> struct TaskResult<void> {
  std::exception_ptr error;
  void return_void() noexcept {}
  void unhandled_exception() noexcept { error = std::current_exception(); }
  void take() {
    if (error)
      std::rethrow_exception(error);
  }
};

} // namespace detail

template <class T> class [[nodiscard]] Task {
public:
  struct promise_type : detail::TaskResult<T> {
    std::coroutine_handle<> continuation = std::noop_coroutine();
    Task get_return_object() noexcept {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    /// At the end the awaiting coroutine goes on (symmetric transfer: no
    /// stack grows however many tasks finish one after another).
    auto final_suspend() noexcept {
      struct Final {
        bool await_ready() noexcept { return false; }
        std::coroutine_handle<>
        await_suspend(std::coroutine_handle<promise_type> h) noexcept {
          return h.promise().continuation;
        }
        void await_resume() noexcept {}
      };
      return Final{};
    }
  };

  Task(Task &&other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task &operator=(Task &&other) noexcept {
    if (this != &other) {
      if (handle_)
        handle_.destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  ~Task() {
    if (handle_)
      handle_.destroy();
  }

  // Left as written: clang-format 14 (Debian 12) and 19 (Debian 13) space a
  // ref-qualifier before noexcept differently.
  // clang-format off
  /// Starts the task and waits for it: its value, or what it threw.
  auto operator co_await() && noexcept { return Awaiter{handle_}; }
  auto operator co_await() & noexcept { return Awaiter{handle_}; }
  // clang-format on

private:
  explicit Task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}

  struct Awaiter {
    std::coroutine_handle<promise_type> handle;
    bool await_ready() const noexcept { return !handle || handle.done(); }
    std::coroutine_handle<>
    await_suspend(std::coroutine_handle<> awaiting) noexcept {
      handle.promise().continuation = awaiting;
      return handle;
    }
    T await_resume() { return handle.promise().take(); }
  };

  std::coroutine_handle<promise_type> handle_;
};

namespace detail {

/// A spawned task's frame: it runs from spawn() to its end and frees
/// itself; while it lives, ws::run() keeps running.
struct Spawned {
  struct promise_type {
    Spawned get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept {
      report_task_exception(std::current_exception());
    }
  };
};

class LoopHold {
public:
  LoopHold() { hold_loop(true); }
  ~LoopHold() { hold_loop(false); }
  LoopHold(const LoopHold &) = delete;
  LoopHold &operator=(const LoopHold &) = delete;
};

inline Spawned run_spawned(Task<void> task) {
  LoopHold hold;
  co_await std::move(task);
}

} // namespace detail

/// JS: `await new Promise(r => setTimeout(r, ms))`: `co_await
/// ws::delay(10ms)` goes on, on the loop thread, after `ms` or later.
inline auto delay(std::chrono::milliseconds ms) {
  struct Awaiter {
    std::chrono::milliseconds ms;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const {
      setTimeout([h] { h.resume(); }, ms);
    }
    void await_resume() const noexcept {}
  };
  return Awaiter{ms};
}

/// Runs `task` and lets it go: it runs at once, on the calling thread, up
/// to its first suspension (as calling a JS async function does), and on
/// the loop thread from then on; ws::run() keeps running until it ends. An
/// exception that leaves it goes to the uncaught-exception handler
/// (setUncaughtExceptionHandler), as a handler's does. Call it on the loop
/// thread (in a handler, or in another task) or before the loop runs; from
/// another thread, post it: `ws::post([] { ws::spawn(work()); })`.
inline void spawn(Task<void> task) { detail::run_spawned(std::move(task)); }

} // namespace ws
