// The engine behind ws::ReadLine: standard input read through Asio on the
// loop, split into lines.
// SPDX-License-Identifier: MIT
#pragma once

#include "loop.hpp"

#include <array>
#include <string>

#include <unistd.h>

namespace ws {
class ReadLine;
}

namespace ws::detail {

/// Shared with the read in flight, so it may outlive its ReadLine. Loop
/// thread only.
class LineReader : public std::enable_shared_from_this<LineReader> {
public:
  explicit LineReader(ReadLine *o) : owner(o) {
    // A copy of descriptor 0, so closing ours leaves the process's stdin.
    // Asio reads regular files too (epoll cannot watch them, and a read of
    // one never blocks).
    const int fd = ::dup(0);
    if (fd < 0)
      ended = true;
    else
      in.assign(fd);
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

  asio::posix::stream_descriptor in{loop().ctx};
  std::array<char, 4096> chunk;
  std::string buffer;   // read, not yet delivered
  std::size_t next = 0; // where the undelivered part of buffer starts
  bool reading = false;
  bool ended = false; // end of input (or an error) was read
  bool closed = false;
};

} // namespace ws::detail
