// JS timers: setTimeout, setInterval, clearTimeout and clearInterval on the
// event loop, from any thread, keeping ws::run() running while pending.
// SPDX-License-Identifier: MIT
#include "support.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("setTimeout: once, no sooner than its delay, in order of expiry") {
  std::vector<int> fired;
  const auto start = Clock::now();
  Clock::time_point at30;
  ws::setTimeout([&] { fired.push_back(30), at30 = Clock::now(); }, 30);
  ws::setTimeout([&] { fired.push_back(0); }, 0);
  ws::setTimeout([&] { fired.push_back(10); }, 10ms);
  ws::setTimeout([&] { fired.push_back(-5); }, -5); // as 0, as in JS
  // Nothing else is pending: run() returns once the timers have fired.
  test::run_must_return();
  // The two without delay first (in either order: they expire together).
  REQUIRE(fired.size() == 4);
  CHECK(std::min(fired[0], fired[1]) == -5);
  CHECK(std::max(fired[0], fired[1]) == 0);
  CHECK(fired[2] == 10);
  CHECK(fired[3] == 30);
  CHECK(at30 - start >= 30ms);
}

TEST_CASE("clearTimeout before it fires: never called, and run() returns") {
  bool called = false;
  const ws::TimerId late = ws::setTimeout([&] { called = true; }, 60s);
  CHECK(late != 0);
  ws::setTimeout([&] { ws::clearTimeout(late); }, 0);
  ws::clearTimeout(0);      // never an id
  ws::clearTimeout(999999); // unknown: nothing
  test::run_must_return();  // the 60 s timer no longer holds it
  CHECK_FALSE(called);
}

TEST_CASE("setInterval repeats until cleared, also from its own callback") {
  int ticks = 0;
  ws::TimerId id = 0;
  id = ws::setInterval(
      [&] {
        if (++ticks == 3)
          ws::clearInterval(id);
      },
      5);
  test::run_must_return();
  CHECK(ticks == 3);

  // clearTimeout clears an interval too, and clearing twice is harmless.
  int other = 0;
  const ws::TimerId second = ws::setInterval([&] { ++other; }, 1ms);
  ws::setTimeout(
      [&] {
        ws::clearTimeout(second);
        ws::clearInterval(second);
      },
      20);
  test::run_must_return();
  CHECK(other >= 1);
}

TEST_CASE("a callback that throws is reported and the timers go on") {
  std::vector<std::string> uncaught;
  ws::setUncaughtExceptionHandler([&](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception &x) {
      uncaught.push_back(x.what());
    }
  });
  int ticks = 0;
  ws::TimerId id = 0;
  id = ws::setInterval(
      [&] {
        if (++ticks == 2)
          ws::clearInterval(id);
        throw std::runtime_error("tick " + std::to_string(ticks));
      },
      1);
  test::run_must_return();
  ws::setUncaughtExceptionHandler(nullptr);
  CHECK(uncaught == std::vector<std::string>{"tick 1", "tick 2"});
}

TEST_CASE("timers from other threads run on the loop thread") {
  std::atomic<int> fired{0};
  std::atomic<bool> on_loop{true};
  std::atomic<bool> cleared_called{false};
  const auto loop_thread = std::this_thread::get_id();
  std::vector<std::thread> threads;
  std::atomic<int> set{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        ws::setTimeout(
            [&] {
              on_loop = on_loop && std::this_thread::get_id() == loop_thread;
              ++fired;
            },
            i % 3);
        // Cleared before it is due: never called. (Not 1 ms: a thread that
        // is not scheduled for that long between the two calls would see
        // it fire, rightly.)
        ws::clearTimeout(ws::setTimeout([&] { cleared_called = true; }, 10s));
        ++set;
      }
    });
  // The loop runs while the threads set their timers.
  test::wait_until([&] { return fired == 100; });
  for (auto &t : threads)
    t.join();
  test::run_must_return();
  CHECK(set == 100);
  CHECK(fired == 100);
  CHECK(on_loop);
  CHECK_FALSE(cleared_called);
}

TEST_CASE("onSignal: the handler runs once on the loop, then run() returns") {
  // Raised at once and raised late: either way one run, on this thread.
  const auto main_thread = std::this_thread::get_id();
  for (const int delay : {0, 200}) {
    INFO(delay);
    std::vector<int> got;
    ws::onSignal({SIGINT, SIGTERM}, [&](int signal) {
      got.push_back(signal);
      CHECK(std::this_thread::get_id() == main_thread);
    });
    ws::setTimeout([] { std::raise(SIGTERM); }, delay);
    test::run_must_return();
    CHECK(got == std::vector<int>{SIGTERM});
  }
}

TEST_CASE("offSignal: the handler never runs and run() returns without it") {
  // A client that set a handler to close on Ctrl+C, and was closed by its
  // peer instead, must be able to end: the handler kept run() running.
  bool ran = false;
  const ws::SignalId id = ws::onSignal({SIGINT}, [&](int) { ran = true; });
  CHECK(id != 0);
  ws::setTimeout([id] { ws::offSignal(id); }, 50);
  test::run_must_return();
  CHECK_FALSE(ran);
  // Spent, unknown and 0 ids do nothing; a second handler gets a new id.
  ws::offSignal(id);
  ws::offSignal(0);
  const ws::SignalId other = ws::onSignal({SIGINT}, [&](int) { ran = true; });
  CHECK(other != id);
  ws::offSignal(other);
  test::run_must_return();
  CHECK_FALSE(ran);
}
