// Readiness of a descriptor that another library owns (hiredis's socket):
// the loop says when it can be read or written, and that library does the
// reading, as libuv's uv_poll and hiredis's own adapters work. Declared
// without Asio, so that a separately compiled program's files that use it
// (<ws/redis.hpp>) parse none. POSIX only: Windows has no such descriptor.
// SPDX-License-Identifier: MIT
#pragma once

#include "decl.hpp"

#include <functional>
#include <memory>

#ifndef _WIN32

namespace ws::detail {

/// Watches one descriptor on the loop; loop thread only (or before the loop
/// runs). The descriptor stays its owner's: nothing here reads, writes or
/// closes it. It is kept from child processes (see os.hpp).
class FdWatch {
public:
  explicit FdWatch(int fd);
  /// Stops watching: a wait asked for is cancelled and its callback never
  /// runs. The descriptor stays open.
  ~FdWatch();
  FdWatch(const FdWatch &) = delete;
  FdWatch &operator=(const FdWatch &) = delete;

  /// Calls `ready` once, on the loop, when the descriptor can be read
  /// (`write`: written), or has failed (a read then says how). One wait
  /// each way at a time; while one is waiting, another asks nothing new.
  void wait(bool write, std::function<void()> ready);
  /// Whether a wait that way is outstanding.
  bool waiting(bool write) const;

private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

} // namespace ws::detail

#ifndef WS_SEPARATE_COMPILATION
#include "../impl/fd_watch.hpp"
#endif

#endif // _WIN32
