// The event loop a browser or Node runs for you, and how to reach it.
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <utility>

namespace asio {
class io_context;
}

namespace ws {

/// Runs the event loop on the calling thread until nothing is left to do:
/// no socket connecting, open or closing, no server listening, nothing
/// posted. Every handler runs inside run(), one at a time. Only one thread
/// may run the loop at a time, and never from inside a handler.
void run();

/// Runs the loop until `done()` holds or `timeout` passes, whichever comes
/// first; returns done(). For tests and for programs that poll.
bool runUntil(const std::function<bool()> &done,
              std::chrono::milliseconds timeout);

/// Queues `task` to run on the loop thread. Safe from any thread: this is how
/// a program hands work to the loop, like postMessage to a page.
void post(std::function<void()> task);

/// Identifies a timer for clearTimeout() and clearInterval(). Ids start at
/// 1; 0 is never one (clearing it does nothing), as in JS.
using TimerId = std::uint64_t;

/// JS: setTimeout(fn, delay). Calls `fn` once on the loop thread, `delay`
/// from now or later, unless cleared first. Safe from any thread. A pending
/// timer keeps ws::run() running, as in Node. What `fn` throws goes to the
/// uncaught-exception handler.
TimerId setTimeout(std::function<void()> fn, std::chrono::milliseconds delay);
/// JS: setTimeout(fn, 1000): the delay in milliseconds.
inline TimerId setTimeout(std::function<void()> fn, std::int64_t ms) {
  return setTimeout(std::move(fn), std::chrono::milliseconds(ms));
}
/// JS: setInterval(fn, interval): calls `fn` every `interval` (counted from
/// the end of each call) until cleared. It keeps ws::run() running until
/// then.
TimerId setInterval(std::function<void()> fn,
                    std::chrono::milliseconds interval);
inline TimerId setInterval(std::function<void()> fn, std::int64_t ms) {
  return setInterval(std::move(fn), std::chrono::milliseconds(ms));
}
/// JS: clearTimeout(id) and clearInterval(id) (either clears either, as in
/// JS). Safe from any thread: once it returns the callback does not start
/// again. An unknown or spent id does nothing.
void clearTimeout(TimerId id);
void clearInterval(TimerId id);

/// Identifies a handler given to onSignal(), for offSignal(). Ids start at
/// 1; 0 is never one.
using SignalId = std::uint64_t;
/// Node: process.once("SIGINT", handler), for several signals at once. The
/// handler runs once, on the loop thread, when the first of `signals`
/// arrives. Until then (or until offSignal) it keeps ws::run() running: it
/// is meant for servers that run until they are told to stop. On the loop
/// thread, or before the loop runs.
SignalId onSignal(std::initializer_list<int> signals,
                  std::function<void(int)> handler);
/// Node: process.off("SIGINT", handler). The handler will not run, and no
/// longer keeps ws::run() running (a client that is done can return from
/// it); the signals get their default action back. On the loop thread, or
/// before the loop runs. An unknown or spent id does nothing.
void offSignal(SignalId id);

/// Sets what happens to an exception thrown by one of your handlers. It never
/// unwinds through the loop; by default it is printed to stderr as
/// "Uncaught <what()>", like a browser console. Pass nullptr for the default.
void setUncaughtExceptionHandler(std::function<void(std::exception_ptr)> h);

/// The Asio io_context behind the loop, for libraries that bring their own
/// sockets or timers (<ws/redis.hpp> plugs hiredis in through it).
/// Work added to it keeps ws::run() running, as sockets do.
asio::io_context &ioContext();

namespace detail {
/// ws::spawn's tasks (<ws/task.hpp>): while one lives, ws::run() keeps
/// running. Loop thread, or before the loop runs.
WS_DECL void hold_loop(bool hold);
/// What leaves a spawned task goes where a handler's exception goes.
WS_DECL void report_task_exception(std::exception_ptr e) noexcept;
} // namespace detail

} // namespace ws

#ifndef WS_SEPARATE_COMPILATION
#include "impl/event_loop.hpp"
#endif
