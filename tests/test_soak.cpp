// Soak: chat_server (built with the sanitizers in that build) under 1,000
// concurrent clients that connect, chat and leave in churn for SOAK_SECONDS
// (default 60). 100 clients stay throughout and must see every message sent
// exactly once and in each sender's order; the others come and go, some by a
// clean close, some by destroying the socket, some by resetting TCP, and
// some (1 in 20) by going silent: their link is blackholed, and the
// server's heartbeat (--ping 2000) must find them within two intervals.
// After each round the server must hold a socket for the stayers only and
// its memory must not grow with the rounds, and on SIGTERM it must exit 0
// (LeakSanitizer would fail it on a leak).
// SPDX-License-Identifier: MIT
#include "forwarder.hpp"
#include "raw_client.hpp"

#include <cstdio>
#include <list>
#include <map>
#include <random>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ws::WebSocket;

namespace {

const std::string greeting = "Welcome to the chat room.";

/// A member who stays: checks each sender's messages arrive once, in order.
struct Stayer {
  WebSocket socket;
  bool greeted = false;
  std::map<std::string, long> last; // sender -> last sequence number seen
  std::size_t received = 0;
  std::size_t faults = 0;
  explicit Stayer(const std::string &url) : socket(url) {
    socket.onmessage = [this](const ws::MessageEvent &e) {
      if (e.data == greeting) {
        greeted = true;
        return;
      }
      // "sender:sequence"
      const auto colon = e.data.find(':');
      const std::string sender = e.data.substr(0, colon);
      const long seq = std::stol(e.data.substr(colon + 1));
      auto it = last.find(sender);
      if (seq != (it == last.end() ? 0 : it->second + 1))
        ++faults;
      last[sender] = seq;
      ++received;
    };
  }
};

/// A member who comes, says a few lines after a while, hears them back, and
/// goes: by close(), by destroying the socket, or (raw) by a TCP reset.
struct Visitor {
  std::string name;
  int lines;     // how many it says
  int heard = 0; // of its own, echoed back
  Clock::time_point speak_at;
  bool spoke = false;
  bool done = false;
  std::unique_ptr<WebSocket> socket;
  std::unique_ptr<test::LoopPeer> raw; // the ones that reset
  // The ones whose link goes silent when they would speak: the server's
  // heartbeat must find them and let them go.
  std::unique_ptr<test::Forwarder> link;
  Clock::time_point silent_since;
};

} // namespace

TEST_CASE("1,000 clients churn through chat_server; nothing lost, no leak") {
  const char *seconds_env = std::getenv("SOAK_SECONDS");
  const auto duration =
      std::chrono::seconds(seconds_env ? std::atoi(seconds_env) : 60);
  // Under ASan, freed memory waits in a quarantine (256 MB by default) and
  // free pages go back to the system every few seconds: a smaller
  // quarantine (still there to catch a use after free) and a quicker release
  // let the server's memory show what it really holds.
  const char *asan = std::getenv("ASAN_OPTIONS");
  setenv("ASAN_OPTIONS",
         (std::string(asan ? asan : "") +
          ":quarantine_size_mb=16:allocator_release_to_os_interval_ms=100")
             .c_str(),
         1);
  // The heartbeat's interval: a pong must come back within it. 1 s was too
  // short for the links through a Forwarder in this ASan process on two
  // loaded cores: now and then a stall dropped dozens of healthy ones
  // before they spoke (counted as failed, and a stayer then waited for
  // lines that their dropped sockets had sent).
  const auto ping = std::chrono::milliseconds(2000);
  test::Process server({test::env("CHAT_SERVER"), "--port", "0", "--host",
                        "127.0.0.1", "--ping", std::to_string(ping.count())});
  if (asan)
    setenv("ASAN_OPTIONS", asan, 1);
  else
    unsetenv("ASAN_OPTIONS");
  const std::string port = test::port_in(server.read_line());
  const std::string url = "ws://127.0.0.1:" + port + "/";
  const pid_t pid = server.pid();
  const long rss_start = test::resident_kib(pid);
  const std::size_t fds_start = test::descriptors(pid);

  std::vector<std::unique_ptr<Stayer>> stayers;
  for (int i = 0; i < 100; ++i)
    stayers.push_back(std::make_unique<Stayer>(url));
  test::wait_until(
      [&] {
        for (auto &s : stayers)
          if (!s->greeted)
            return false;
        return true;
      },
      60s);

  std::mt19937 random(42);
  std::list<Visitor> visitors;
  std::size_t sent = 0, came = 0, resets = 0, faults = 0, failed = 0;
  std::size_t silenced = 0, undropped = 0;
  std::map<std::string, int> errors; // what failed visitors were told
  long rss_peak = rss_start;
  std::uint64_t next_name = 0;
  auto arrive = [&] {
    Visitor &v = visitors.emplace_back();
    v.name = "v" + std::to_string(next_name++);
    // 0 or 1 line: about 60 lines a second, 60,000 deliveries, which an
    // ASan build keeps up with even on a busy machine.
    v.lines = static_cast<int>(random() % 2);
    v.speak_at =
        Clock::now() + std::chrono::milliseconds(2000 + random() % 8000);
    ++came;
    if (random() % 10 == 0) {
      // Upgrades by hand, takes the greeting, then resets: no close frame.
      v.lines = 0;
      v.raw = std::make_unique<test::LoopPeer>(
          static_cast<std::uint16_t>(std::stoi(port)));
      v.raw->send(test::upgrade_request());
      return;
    }
    if (random() % 20 == 0) {
      v.lines = 0;
      v.link = std::make_unique<test::Forwarder>(
          static_cast<std::uint16_t>(std::stoi(port)));
    }
    v.socket = std::make_unique<WebSocket>(v.link ? v.link->url() : url);
    v.socket->onerror = [&errors](const ws::ErrorEvent &e) {
      ++errors[e.message];
    };
    v.socket->onmessage = [&v, &faults](const ws::MessageEvent &e) {
      if (e.data.rfind(v.name + ":", 0) == 0 &&
          std::stol(e.data.substr(v.name.size() + 1)) != v.heard++)
        ++faults;
    };
  };
  // Each step: top up to 900 visitors (until `end`), let those whose time
  // has come speak or leave, and sample the server's memory.
  auto end = Clock::now();
  asio::steady_timer tick(ws::ioContext());
  std::function<void()> step = [&] {
    const auto now = Clock::now();
    for (auto it = visitors.begin(); it != visitors.end();) {
      Visitor &v = *it;
      if (v.raw && (v.raw->eof || !v.raw->frames().empty())) {
        failed += v.raw->eof;
        v.raw->reset();
        ++resets;
        v.done = true;
      } else if (v.link && v.spoke) {
        // Silent: the server must drop it within two intervals (and a
        // little for a loaded machine).
        if (v.link->ended_by_target() == 1) {
          v.done = true;
        } else if (now - v.silent_since > 2 * ping + 3s) {
          ++undropped;
          v.done = true;
        }
      } else if (v.link && now >= v.speak_at &&
                 v.socket->readyState() == WebSocket::OPEN) {
        v.link->blackhole();
        v.silent_since = now;
        v.spoke = true;
        ++silenced;
      } else if (v.socket && v.socket->readyState() == WebSocket::CLOSED) {
        ++failed; // it never opened, or the server dropped it
        v.done = true;
      } else if (v.socket && !v.spoke && now >= v.speak_at &&
                 v.socket->readyState() == WebSocket::OPEN) {
        for (int i = 0; i < v.lines; ++i)
          v.socket->send(v.name + ":" + std::to_string(i));
        sent += static_cast<std::size_t>(v.lines);
        v.spoke = true;
      } else if (v.socket && v.spoke && v.heard == v.lines) {
        // Every line it said came back: the server has relayed them all.
        if (random() % 2)
          v.socket->close(1000);
        v.done = true;
      }
      it = v.done ? visitors.erase(it) : std::next(it);
    }
    if (now < end)
      while (visitors.size() < 900)
        arrive();
    rss_peak = std::max(rss_peak, test::resident_kib(pid));
    tick.expires_after(10ms);
    tick.async_wait([&](const asio::error_code &ec) {
      if (!ec)
        step();
    });
  };
  // One round: churn for half the time, let the last visitors finish, and
  // check every stayer heard every line, once, in each sender's order.
  // Then the server's memory, once it has let the visitors go (a newcomer's
  // greeting comes after it handled their leaving).
  auto round = [&] {
    end = Clock::now() + duration / 2;
    step();
    INFO("waiting for the visitors to finish");
    test::wait_until([&] { return Clock::now() >= end && visitors.empty(); },
                     duration + 120s);
    tick.cancel();
    test::wait_until(
        [&] {
          for (auto &s : stayers)
            if (s->received < sent)
              return false;
          return true;
        },
        120s);
    for (auto &s : stayers) {
      CHECK(s->received == sent);
      CHECK(s->faults == 0);
      CHECK(s->socket.readyState() == WebSocket::OPEN);
    }
    WebSocket last(url);
    bool greeted = false;
    last.onmessage = [&](const ws::MessageEvent &) { greeted = true; };
    test::wait_until([&] { return greeted; }, 30s);
    // Every visitor is gone from the server: it holds a socket for each
    // stayer and the last comer, and no other.
    INFO("the server's descriptors: " << test::descriptors(pid) << ", "
                                      << fds_start << " at start");
    test::wait_until(
        [&] {
          return test::descriptors(pid) == fds_start + stayers.size() + 1;
        },
        30s);
    return test::resident_kib(pid);
  };
  const long rss_round1 = round();
  const long rss_round2 = round();
  CHECK(faults == 0);
  for (const auto &e : errors)
    UNSCOPED_INFO(e.second << " visitors: " << e.first);
  CHECK(failed == 0);
  CHECK(silenced > 0);
  CHECK(undropped == 0);
  std::printf("soak: %zu visitors (%zu reset TCP, %zu went silent), %zu lines "
              "relayed to 100 "
              "stayers; chat_server RSS %ld KiB at start, %ld KiB at peak, "
              "%ld KiB after round 1, %ld KiB after round 2\n",
              came, resets, silenced, sent, rss_start, rss_peak, rss_round1,
              rss_round2);
  CHECK(came > 1000);
  CHECK(sent > 0);
  // The allocator keeps freed memory for reuse, so the resident size does
  // not fall back to the start, and it drifts up from round to round as
  // the heap's free space moves: measured here (malloc_stats through gdb,
  // six rounds), the heap in use after each round stayed the same within
  // 1 KiB while the resident size grew by 2 to 8 MB a round, with silent
  // visitors and without. So the descriptors above are the exact check
  // that nothing is held per departed client; this bound is the gross one
  // (a leaked connection, 70 KiB each, thousands per round, would pass it
  // many times over), and LeakSanitizer at exit catches what is
  // unreachable.
  CHECK(rss_round2 - rss_round1 <= std::max(8192L, (rss_peak - rss_start) / 2));
  stayers.clear();
  server.signal(SIGTERM);
  CHECK(server.wait(30s) == 0);
}
