// What the tests share that needs neither Asio nor the engine, so that a
// separately compiled test (test_stream) uses it too: a child process with
// pipes, the loop on a thread of its own, and this process's memory.
// SPDX-License-Identifier: MIT
#pragma once

#include <ws/event_loop.hpp>

#include "catch.hpp"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#ifndef _WIN32
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace test {

using namespace std::chrono_literals;

/// ASan keeps freed memory in quarantine (256 MiB by default), so a
/// process's resident size under it says nothing about what the library
/// holds: memory bounds are checked in the plain build.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool rss_means_nothing = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool rss_means_nothing = true;
#else
inline constexpr bool rss_means_nothing = false;
#endif
#else
inline constexpr bool rss_means_nothing = false;
#endif

/// Runs the ws loop on a thread of its own while this thread drives a child
/// process; objects on the loop are left alone until it has stopped.
class LoopThread {
public:
  LoopThread()
      : thread_([this] {
          ws::runUntil([this] { return stop_.load(); },
                       std::chrono::seconds(60));
        }) {}
  ~LoopThread() {
    ws::post([this] { stop_ = true; });
    thread_.join();
  }

private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// What follows reads /proc and spawns with POSIX: the tests that use it
// stay on Linux, where they drive the Windows programs under wine instead
// (tests/run.sh's Windows stage).
#ifndef _WIN32

/// /proc/self, or /proc/PID for another process.
inline std::string proc(pid_t pid) {
  return pid ? "/proc/" + std::to_string(pid) : "/proc/self";
}

/// A process's resident memory now, in KiB (this one's by default).
inline long resident_kib(pid_t pid = 0) {
  std::ifstream status(proc(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

/// The descriptors a process holds (this one's by default), counting only
/// those numbered below `below`: RLIMIT_NOFILE bounds their numbers, not
/// how many there are.
inline std::size_t descriptors(pid_t pid = 0, std::size_t below = SIZE_MAX) {
  std::size_t n = 0;
  for (const auto &entry :
       std::filesystem::directory_iterator(proc(pid) + "/fd"))
    n += std::stoul(entry.path().filename().string()) < below;
  return n;
}

/// The sockets a process holds (this one's by default), as the kernel names
/// them ("socket:[inode]"): the same socket reads alike in every process
/// that holds it.
inline std::set<std::string> sockets(pid_t pid = 0) {
  std::set<std::string> found;
  std::error_code ec;
  for (const auto &entry :
       std::filesystem::directory_iterator(proc(pid) + "/fd", ec)) {
    const auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (!ec && target.string().rfind("socket:", 0) == 0)
      found.insert(target.string());
  }
  return found;
}

/// The user and system CPU seconds a process has used (/proc/PID/stat,
/// fields 14 and 15).
inline double cpu_seconds(pid_t pid) {
  std::ifstream f(proc(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), {});
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i)
    if (i == 14 || i == 15)
      ticks += std::stod(field);
  return ticks / double(sysconf(_SC_CLK_TCK));
}

/// Whether a Process's stderr joins its stdout's pipe, or stays this one's.
enum class Stderr { own, joined };

/// A child process with its stdin and stdout on pipes.
class Process {
public:
  explicit Process(std::vector<std::string> argv, Stderr err = Stderr::own) {
    // A Windows program (tests/run.sh's Windows stage points CHAT_SERVER and
    // the rest at .exe files) runs under the wrapper it names, wine.
    const std::string exe = ".exe";
    const char *wrapper = std::getenv("EXE_WRAPPER");
    if (wrapper && argv[0].size() > exe.size() &&
        argv[0].compare(argv[0].size() - exe.size(), exe.size(), exe) == 0) {
      argv.insert(argv.begin(), wrapper);
      windows_ = true;
    }
    int in[2], out[2];
    REQUIRE(pipe(in) == 0);
    REQUIRE(pipe(out) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    if (err == Stderr::joined)
      posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    posix_spawn_file_actions_addclose(&actions, in[1]);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::vector<char *> args;
    for (const auto &a : argv)
      args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    REQUIRE(posix_spawn(&pid_, args[0], &actions, nullptr, args.data(),
                        environ) == 0);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    fcntl(stdin_, F_SETFD, FD_CLOEXEC);
    fcntl(stdout_, F_SETFD, FD_CLOEXEC);
  }
  ~Process() {
    close_stdin();
    if (stdout_ >= 0)
      close(stdout_);
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  void write_line(const std::string &line) {
    std::string s = line + "\n";
    REQUIRE(write(stdin_, s.data(), s.size()) == ssize_t(s.size()));
  }
  void close_stdin() {
    if (stdin_ >= 0)
      close(stdin_);
    stdin_ = -1;
  }
  /// The next line of its stdout, waiting at most `timeout`.
  std::string read_line(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (windows_ && !line.empty() && line.back() == '\r')
          line.pop_back(); // its text-mode stdout ends lines with CRLF
        return line;
      }
      REQUIRE(read_more(deadline)); // the end came before a whole line
    }
  }
  /// The rest of its stdout, up to its end, waiting at most `timeout`.
  std::string read_rest(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (read_more(deadline)) {
    }
    std::string rest = std::exchange(buffer_, std::string());
    if (windows_)
      for (auto at = rest.find("\r\n"); at != std::string::npos;
           at = rest.find("\r\n", at))
        rest.erase(at, 1);
    return rest;
  }
  /// Waits for more of its stdout and adds it to the buffer; false at the
  /// end of its output. Past `deadline` the test fails.
  bool read_more(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      REQUIRE(left.count() > 0);
      pollfd p{stdout_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char buf[4096];
      const ssize_t n = read(stdout_, buf, sizeof buf);
      if (n <= 0)
        return false;
      buffer_.append(buf, static_cast<std::size_t>(n));
      return true;
    }
  }
  /// Windows has no SIGTERM: its programs are stopped with Ctrl+C, which
  /// wine makes of a SIGINT. So a Windows program's SIGTERM is a SIGINT.
  void signal(int sig) {
    kill(pid_, windows_ && sig == SIGTERM ? SIGINT : sig);
  }
  pid_t pid() const { return pid_; }
  /// Its exit status, waiting at most `timeout` (-1 if killed by a signal).
  int wait(std::chrono::milliseconds timeout = 10s) {
    // A pidfd becomes readable when the child exits: a real event to wait
    // on, with the deadline as poll's timeout.
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
    REQUIRE(pidfd >= 0);
    pollfd p{pidfd, POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(timeout.count()));
    close(pidfd);
    REQUIRE(ready == 1); // else it did not exit in time
    int status = 0;
    REQUIRE(waitpid(pid_, &status, 0) == pid_);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

private:
  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1;
  bool exited_ = false;
  bool windows_ = false; // a Windows program, run under EXE_WRAPPER
  std::string buffer_;
};

#endif // _WIN32

} // namespace test
