// JS timers on the event loop: setTimeout, setInterval and their clear
// functions, callable from any thread.
// SPDX-License-Identifier: MIT
#pragma once

#include "loop.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace ws::detail {

/// One timer: what it calls and after how long. Its Asio timer is made and
/// touched on the loop thread only (Asio's objects are not thread-safe).
struct Timer {
  std::function<void()> fn;
  std::chrono::milliseconds delay;
  bool repeat;
  std::unique_ptr<asio::steady_timer> clock;
};

/// The live timers, by id. The lock guards the map only and is never held
/// while a callback runs, so a callback may set or clear timers.
class Timers {
public:
  std::uint64_t start(std::function<void()> fn, std::chrono::milliseconds delay,
                      bool repeat) {
    // As in JS, a negative delay is no delay.
    auto timer = std::make_shared<Timer>(
        Timer{std::move(fn), std::max(delay, std::chrono::milliseconds(0)),
              repeat, nullptr});
    std::uint64_t id;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      id = ++last_id_;
      live_.emplace(id, timer);
    }
    // Queued work keeps ws::run() running until the timer is armed, and the
    // armed timer keeps it running until it fires or is cleared.
    asio::post(loop().ctx, [this, id, timer] { arm(id, timer); });
    return id;
  }

  /// Once this returns, the callback does not start again (on the loop
  /// thread: does not start at all). Unknown ids are ignored, as in JS.
  void clear(std::uint64_t id) {
    std::shared_ptr<Timer> timer;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = live_.find(id);
      if (it == live_.end())
        return;
      timer = std::move(it->second);
      live_.erase(it);
    }
    // Cancelled on the loop, which lets ws::run() return, and where the
    // callback (and what it captured) is destroyed.
    asio::post(loop().ctx, [timer = std::move(timer)] {
      if (timer->clock)
        timer->clock->cancel();
    });
  }

private:
  bool live(std::uint64_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return live_.count(id) != 0;
  }

  void arm(std::uint64_t id, const std::shared_ptr<Timer> &timer) {
    if (!live(id))
      return;
    if (!timer->clock)
      timer->clock = std::make_unique<asio::steady_timer>(loop().ctx);
    timer->clock->expires_after(timer->delay);
    timer->clock->async_wait([this, id, timer](const asio::error_code &ec) {
      // Checked (and a timeout claimed) under the lock, so a clear() on
      // another thread either comes first and wins, or finds the timer
      // already started; once claimed, clearTimeout(id) from the callback
      // has no effect.
      if (ec || !(timer->repeat ? live(id) : claim(id)))
        return;
      guarded([&] { timer->fn(); });
      // An interval goes on unless its callback cleared it.
      if (timer->repeat)
        arm(id, timer);
    });
  }

  /// Removes a timeout that is due; false if it was cleared first.
  bool claim(std::uint64_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return live_.erase(id) != 0;
  }

  std::mutex mutex_;
  std::uint64_t last_id_ = 0;
  std::unordered_map<std::uint64_t, std::shared_ptr<Timer>> live_;
};

/// The process's timers, beside its loop.
inline Timers &timers() {
  loop(); // first, so that the loop outlives the timers at exit
  static Timers instance;
  return instance;
}

} // namespace ws::detail
