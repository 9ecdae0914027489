// Framing outgoing messages ourselves, and the UTF-8 checks around them.
// SPDX-License-Identifier: MIT
#pragma once

#include "config.hpp"
#include "loop.hpp"

#include <atomic>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string_view>

namespace ws::detail {

/// Every text send() checks its message, so ASCII (most text, and all of
/// an echo's or a chat's) is skipped eight bytes at a time; the validator
/// starts at the first byte with its high bit set, which begins a character
/// since the byte before it is ASCII.
inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, s.data() + i, 8);
    if (word & 0x8080808080808080u)
      break;
  }
  while (i < s.size() && !(static_cast<unsigned char>(s[i]) & 0x80))
    ++i;
  if (i == s.size())
    return true;
  websocketpp::utf8_validator::validator v;
  return v.decode(s.begin() + static_cast<std::ptrdiff_t>(i), s.end()) &&
         v.complete();
}

/// websocketpp 0.8.2 checks UTF-8 frame by frame but skips the final check
/// when a text message's last frame is a continuation (finalize_message()
/// looks at the frame's opcode, not the message's), so a message may end
/// inside a character. Everything before was checked, so the end is all
/// that is left to look at.
inline bool utf8_ends_complete(const std::string &s) {
  std::size_t n = s.size(), back = 0;
  while (back < n && back < 4 &&
         (static_cast<unsigned char>(s[n - 1 - back]) & 0xC0) == 0x80)
    ++back;
  if (back == n)
    return back == 0;
  unsigned char lead = static_cast<unsigned char>(s[n - 1 - back]);
  std::size_t need = lead < 0x80 ? 0 : lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;
  return back == need;
}

/// What a socket's queued frames still owe the network (bytes for
/// bufferedAmount, or pongs), shared by the socket and every frame it has
/// queued: each frame gives its units back when websocketpp has written it
/// and lets it go.
struct Owed : std::atomic<std::uint64_t> {
  using std::atomic<std::uint64_t>::atomic;

  /// RTCDataChannel's bufferedAmountLowThreshold.
  std::atomic<std::uint64_t> low_threshold{0};
  /// Set only while the socket has a bufferedamountlow handler or listener,
  /// so a socket without one pays a relaxed load per frame and no more.
  std::atomic<bool> watched{false};
  /// Called, on the loop thread, when what is owed falls from above
  /// low_threshold to at or below it (loop thread only, like its setter).
  std::function<void()> on_low;

  void give_back(std::uint64_t n) {
    const std::uint64_t before = fetch_sub(n);
    if (!watched.load(std::memory_order_relaxed))
      return;
    const std::uint64_t low = low_threshold.load();
    // Written frames are let go on the loop thread; one dropped elsewhere
    // (a send posted to a loop that never ran it) was never written.
    if (before > low && before - n <= low && on_low && on_loop_thread())
      on_low();
  }
};
using BufferedCounter = std::shared_ptr<Owed>;

/// Builds one complete, prepared data frame (RFC 6455 section 5.2). A client
/// masks with a fresh key from the OS's random source (section 5.3: "MUST be
/// derived from a strong source of entropy"). Framing here rather than in
/// websocketpp lets a send() on any thread do this work before posting, and
/// lets us learn when the frame has been written.
///
/// `counter` goes up by `units` now and down by as much when the frame has
/// been written (or dropped): bytes for bufferedAmount, 1 for a pong.
/// `compressed`: the payload is permessage-deflate's (RSV1, RFC 7692 6).
inline MessagePtr make_frame(websocketpp::frame::opcode::value op,
                             const char *data, std::size_t size, bool mask,
                             BufferedCounter counter, std::uint64_t units,
                             bool compressed = false) {
  std::string header;
  header.reserve(14);
  header += static_cast<char>(0x80 | (compressed ? 0x40 : 0) | op);
  const char mask_bit = mask ? '\x80' : '\0';
  if (size < 126) {
    header += static_cast<char>(mask_bit | static_cast<char>(size));
  } else if (size <= 0xFFFF) {
    header += static_cast<char>(mask_bit | 126);
    header += static_cast<char>(size >> 8);
    header += static_cast<char>(size & 0xFF);
  } else {
    header += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      header +=
          static_cast<char>((static_cast<std::uint64_t>(size) >> shift) & 0xFF);
  }
  // The message and what gives its units back, in one allocation.
  struct Framed {
    Message message;
    BufferedCounter counter;
    std::uint64_t units;
    Framed(websocketpp::frame::opcode::value o, BufferedCounter c,
           std::uint64_t n)
        : message(Message::con_msg_man_ptr(), o, 0), counter(std::move(c)),
          units(n) {}
    ~Framed() { counter->give_back(units); }
  };
  counter->fetch_add(units);
  auto framed = std::make_shared<Framed>(op, std::move(counter), units);
  MessagePtr msg(framed, &framed->message);
  std::string &payload = msg->get_raw_payload();
  payload.assign(data, size);
  if (mask) {
    thread_local std::random_device entropy;
    std::uint32_t key = entropy();
    char k[4];
    std::memcpy(k, &key, 4);
    header.append(k, 4);
    for (std::size_t i = 0; i < size; ++i)
      payload[i] = static_cast<char>(payload[i] ^ k[i & 3]);
  }
  msg->set_header(header);
  msg->set_prepared(true);
  return msg;
}

/// A frame many sockets send (a broadcast, framed once), and how many of
/// them still hold it. Each socket's hold is a shared_ptr control block of
/// its own (websocketpp queues and releases a MessagePtr per socket); the
/// blocks come from one arena sized for every socket, so a broadcast to a
/// thousand sockets allocates twice, not a thousand times (malloc was the
/// largest cost per recipient under perf). The count is plain: sockets take
/// and let go of their holds on the loop thread only (websocketpp's writes
/// complete there).
class SharedFrame {
public:
  SharedFrame(MessagePtr f, std::size_t sockets)
      : frame(std::move(f)), capacity_(sockets) {}
  SharedFrame(const SharedFrame &) = delete;
  SharedFrame &operator=(const SharedFrame &) = delete;
  ~SharedFrame() { ::operator delete(arena_); }

  const MessagePtr frame;

  void let_go() {
    if (--holders_ == 0)
      delete this;
  }

  /// Room for one hold's control block, taken with a hold on this frame.
  /// Every block has the same type, so the first one sizes the arena.
  void *take(std::size_t size) {
    ++holders_;
    if (!arena_) {
      block_ = (size + alignof(std::max_align_t) - 1) &
               ~(alignof(std::max_align_t) - 1);
      const std::size_t bytes = block_ * capacity_;
      arena_ = static_cast<char *>(::operator new(bytes));
    }
    if (size <= block_ && used_ < capacity_)
      return arena_ + block_ * used_++;
    return ::operator new(size); // more holds than sockets: not expected
  }

  /// A hold's block given back once the hold is destroyed.
  void give_back(void *block) {
    const char *p = static_cast<const char *>(block);
    if (p < arena_ || p >= arena_ + block_ * capacity_)
      ::operator delete(block);
    let_go();
  }

private:
  char *arena_ = nullptr;
  std::size_t block_ = 0, capacity_, used_ = 0;
  std::size_t holders_ = 1; // the broadcast's own, until it has gone round
};

/// Hands out a SharedFrame's blocks to std::allocate_shared. The block is
/// given back after the hold in it is destroyed, so the last one may free
/// the arena.
template <class T> struct FrameAllocator {
  using value_type = T;
  SharedFrame *shared;
  explicit FrameAllocator(SharedFrame &s) : shared(&s) {}
  template <class U>
  FrameAllocator(const FrameAllocator<U> &other) : shared(other.shared) {}
  T *allocate(std::size_t n) {
    return static_cast<T *>(shared->take(n * sizeof(T)));
  }
  void deallocate(T *p, std::size_t) { shared->give_back(p); }
  template <class U> bool operator==(const FrameAllocator<U> &o) const {
    return shared == o.shared;
  }
  template <class U> bool operator!=(const FrameAllocator<U> &o) const {
    return shared != o.shared;
  }
};

/// One socket's hold on a SharedFrame: websocketpp gets a MessagePtr of its
/// own to queue and release, pointing at the shared frame; its release gives
/// this socket's bytes back to bufferedAmount. `buffered` outlives the hold:
/// the connection that queues it keeps the counters (ConnectionBase).
inline MessagePtr share_frame(SharedFrame &shared, std::size_t size,
                              Owed &buffered) {
  struct Hold {
    Owed *buffered;
    std::size_t size;
    Hold(Owed &b, std::size_t n) : buffered(&b), size(n) {
      buffered->fetch_add(size);
    }
    ~Hold() { buffered->give_back(size); }
  };
  auto hold =
      std::allocate_shared<Hold>(FrameAllocator<Hold>(shared), buffered, size);
  return MessagePtr(std::move(hold), shared.frame.get());
}

} // namespace ws::detail
