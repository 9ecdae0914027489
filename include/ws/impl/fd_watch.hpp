// Definitions for detail/fd_watch.hpp: an Asio descriptor that waits for
// readiness and never owns what it watches.
// SPDX-License-Identifier: MIT
#pragma once

#include "../detail/fd_watch.hpp"
#include "../detail/loop.hpp"
#include "../detail/os.hpp"

#include <utility>

#ifndef _WIN32

namespace ws::detail {

struct FdWatch::Impl {
  explicit Impl(int fd) : descriptor(loop().ctx, fd) {}
  asio::posix::stream_descriptor descriptor;
  bool waiting[2] = {false, false}; // read, write
};

WS_DECL FdWatch::FdWatch(int fd) : impl_(std::make_shared<Impl>(fd)) {
  keep_from_children(fd);
}

WS_DECL FdWatch::~FdWatch() {
  // Released, not closed: the descriptor is its owner's. Releasing cancels
  // the waits; their handlers find Impl gone and call nothing.
  impl_->descriptor.release();
}

WS_DECL void FdWatch::wait(bool write, std::function<void()> ready) {
  if (impl_->waiting[write])
    return;
  impl_->waiting[write] = true;
  std::weak_ptr<Impl> weak = impl_;
  impl_->descriptor.async_wait(
      write ? asio::posix::descriptor_base::wait_write
            : asio::posix::descriptor_base::wait_read,
      [weak, write, ready = std::move(ready)](asio::error_code ec) {
        auto impl = weak.lock();
        if (!impl)
          return; // the watch is gone: its owner has moved on
        impl->waiting[write] = false;
        if (!ec)
          ready();
      });
}

WS_DECL bool FdWatch::waiting(bool write) const {
  return impl_->waiting[write];
}

} // namespace ws::detail

#endif // _WIN32
