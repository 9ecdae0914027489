// Definitions for event_loop.hpp.
// SPDX-License-Identifier: MIT
#pragma once

#include "../detail/loop.hpp"
#include "../detail/timers.hpp"

namespace ws {

WS_DECL void run() {
  auto &ctx = detail::loop().ctx;
  detail::RunnerScope runner;
  ctx.restart();
  ctx.run();
}

WS_DECL bool runUntil(const std::function<bool()> &done,
                      std::chrono::milliseconds timeout) {
  auto &ctx = detail::loop().ctx;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  detail::RunnerScope runner;
  ctx.restart();
  // The guard keeps run_one_until waiting for work posted from other threads
  // instead of returning at once when the loop is momentarily idle.
  auto guard = asio::make_work_guard(ctx);
  while (!done() && std::chrono::steady_clock::now() < deadline)
    ctx.run_one_until(deadline);
  return done();
}

WS_DECL void post(std::function<void()> task) {
  asio::post(detail::loop().ctx,
             [task = std::move(task)] { detail::guarded([&] { task(); }); });
}

WS_DECL TimerId setTimeout(std::function<void()> fn,
                           std::chrono::milliseconds delay) {
  return detail::timers().start(std::move(fn), delay, false);
}

WS_DECL TimerId setInterval(std::function<void()> fn,
                            std::chrono::milliseconds interval) {
  return detail::timers().start(std::move(fn), interval, true);
}

WS_DECL void clearTimeout(TimerId id) { detail::timers().clear(id); }

WS_DECL void clearInterval(TimerId id) { detail::timers().clear(id); }

WS_DECL SignalId onSignal(std::initializer_list<int> signals,
                          std::function<void(int)> handler) {
  auto &l = detail::loop();
  const SignalId id = ++l.last_signal_id;
  auto set = std::make_shared<asio::signal_set>(l.ctx);
  for (int signal : signals)
    set->add(signal);
  // The loop holds the set until its handler runs or offSignal drops it.
  l.signals.emplace(id, set);
  set->async_wait([id, handler = std::move(handler)](const asio::error_code &ec,
                                                     int signal) {
    detail::loop().signals.erase(id);
    if (!ec)
      detail::guarded([&] { handler(signal); });
  });
  return id;
}

WS_DECL void offSignal(SignalId id) {
  auto &signals = detail::loop().signals;
  auto it = signals.find(id);
  if (it == signals.end())
    return;
  // Its wait ends with operation_aborted: the handler does not run.
  it->second->cancel();
  signals.erase(it);
}

WS_DECL asio::io_context &ioContext() { return detail::loop().ctx; }

WS_DECL void
setUncaughtExceptionHandler(std::function<void(std::exception_ptr)> h) {
  detail::loop().uncaught = std::move(h);
}

WS_DECL void detail::hold_loop(bool hold) {
  auto &l = loop();
  if (hold && l.task_holds++ == 0)
    l.task_guard.emplace(l.ctx.get_executor());
  else if (!hold && --l.task_holds == 0)
    l.task_guard.reset();
}

WS_DECL void detail::report_task_exception(std::exception_ptr e) noexcept {
  report_uncaught(std::move(e));
}

} // namespace ws
