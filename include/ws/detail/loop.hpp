// The process's one event loop, the shared client endpoint, and the barrier
// that keeps a handler's exception from unwinding through the loop.
// SPDX-License-Identifier: MIT
#pragma once

#include "../version.hpp"

#include "config.hpp"

#include <atomic>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <thread>

namespace ws::detail {

struct Loop {
  asio::io_context ctx;
  std::function<void(std::exception_ptr)> uncaught;
  /// The thread inside ws::run() or ws::runUntil(), including the moments
  /// between two handlers there (a runUntil condition); none when no thread
  /// runs the loop.
  std::atomic<std::thread::id> runner{};
  /// The spawned tasks alive (ws::spawn), and the work that keeps run()
  /// running while there are any.
  std::size_t task_holds = 0;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>>
      task_guard;
  /// onSignal's signal sets, by id, until their handler runs or offSignal.
  std::map<std::uint64_t, std::shared_ptr<asio::signal_set>> signals;
  std::uint64_t last_signal_id = 0;
  // Declared after ctx so it is destroyed first: it holds ctx's objects.
  std::unique_ptr<ClientEndpoint> client;
};

inline Loop &loop() {
  static Loop instance;
  return instance;
}

/// True on the thread that runs the loop now: nothing else can touch the
/// loop's objects meanwhile.
inline bool on_loop_thread() {
  return loop().runner.load() == std::this_thread::get_id();
}

/// Marks the calling thread as the loop's while it runs it.
class RunnerScope {
public:
  RunnerScope()
      : previous_(loop().runner.exchange(std::this_thread::get_id())) {}
  ~RunnerScope() { loop().runner.store(previous_); }
  RunnerScope(const RunnerScope &) = delete;
  RunnerScope &operator=(const RunnerScope &) = delete;

private:
  std::thread::id previous_;
};

/// Turns websocketpp's logging off: by default it writes every connection to
/// stdout and every error to stderr, which a library must not do. Also
/// names this library, not websocketpp, in the Server and User-Agent
/// headers.
template <class Endpoint> void quiet(Endpoint &endpoint, bool log) {
  endpoint.set_user_agent("ws/" WS_VERSION);
  if (log) {
    endpoint.set_access_channels(websocketpp::log::alevel::connect |
                                 websocketpp::log::alevel::disconnect |
                                 websocketpp::log::alevel::fail);
    endpoint.set_error_channels(websocketpp::log::elevel::all);
  } else {
    endpoint.clear_access_channels(websocketpp::log::alevel::all);
    endpoint.clear_error_channels(websocketpp::log::elevel::all);
  }
}

/// The client endpoint every ws::WebSocket shares; made on first use, on the
/// loop thread.
inline ClientEndpoint &client_endpoint() {
  auto &l = loop();
  if (!l.client) {
    l.client = std::make_unique<ClientEndpoint>();
    quiet(*l.client, false);
    l.client->init_asio(&l.ctx);
  }
  return *l.client;
}

inline void report_uncaught(std::exception_ptr e) {
  auto &handler = loop().uncaught;
  if (handler) {
    try {
      handler(e);
      return;
    } catch (...) {
      // The reporter itself threw: fall back to stderr below.
    }
  }
  try {
    std::rethrow_exception(e);
  } catch (const std::exception &x) {
    std::cerr << "Uncaught " << x.what() << std::endl;
  } catch (...) {
    std::cerr << "Uncaught exception of unknown type" << std::endl;
  }
}

/// The dispatch barrier: runs a user's handler, reporting what it throws.
template <class F> void guarded(F &&f) noexcept {
  try {
    f();
  } catch (...) {
    report_uncaught(std::current_exception());
  }
}

} // namespace ws::detail
