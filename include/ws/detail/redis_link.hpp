// One connection to Redis on ws's loop: hiredis's asynchronous API plugged
// in through its readiness hooks (as its adapters for libuv or libevent
// are), and made again with back-off whenever it is lost. Nothing here
// knows what the connection is for (see redis.hpp's bus).
// SPDX-License-Identifier: MIT
#pragma once

#include "../event_loop.hpp"
#include "fd_watch.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace ws::detail {

/// Loop thread only (or before the loop runs). Shared: a wait on its socket
/// keeps it alive, so that hiredis can finish a disconnect (close()) after
/// its owner has gone.
class RedisLink : public std::enable_shared_from_this<RedisLink> {
public:
  RedisLink(std::string host, int port) : host_(std::move(host)), port_(port) {}

  /// Runs when the connection is up (again); command() may send.
  std::function<void()> onup;
  /// Runs once when an up connection is lost or a connect fails, with why.
  std::function<void(const std::string &)> ondown;
  /// Every reply to a command sent with `answered`; nullptr for those still
  /// pending when the connection goes.
  std::function<void(redisReply *)> onreply;

  void connect() {
    if (closed_)
      return;
    ac_ = redisAsyncConnect(host_.c_str(), port_);
    if (!ac_ || ac_->err) {
      const std::string why = ac_ ? ac_->errstr : "out of memory";
      if (ac_)
        redisAsyncFree(ac_);
      ac_ = nullptr;
      return lost(why);
    }
    ac_->data = this;
    // hiredis asks for read and write readiness through these hooks.
    ac_->ev.data = this;
    ac_->ev.addRead = [](void *p) { static_cast<RedisLink *>(p)->want(0, 1); };
    ac_->ev.delRead = [](void *p) { static_cast<RedisLink *>(p)->want(0, 0); };
    ac_->ev.addWrite = [](void *p) { static_cast<RedisLink *>(p)->want(1, 1); };
    ac_->ev.delWrite = [](void *p) { static_cast<RedisLink *>(p)->want(1, 0); };
    ac_->ev.cleanup = [](void *p) { static_cast<RedisLink *>(p)->forget(); };
    watch_ =
        std::make_unique<FdWatch>(ac_->c.fd); // hiredis opens it inheritable
    redisAsyncSetConnectCallback(ac_, [](const redisAsyncContext *c, int ok) {
      auto *self = static_cast<RedisLink *>(c->data);
      if (self->dropping_)
        return;
      if (ok == REDIS_OK)
        self->up();
      else
        self->lost(c->errstr); // hiredis frees the context next
    });
    redisAsyncSetDisconnectCallback(ac_, [](const redisAsyncContext *c, int) {
      auto *self = static_cast<RedisLink *>(c->data);
      if (!self->dropping_)
        self->lost(c->err ? c->errstr : "connection closed");
    });
  }

  /// Whether the connection is up: command() sends.
  bool ready() const { return up_ && ac_; }

  /// Sends a command (hiredis's format and arguments) if the connection is
  /// up, and says whether it did; its reply goes to onreply if `answered`.
  template <class... Args>
  bool command(bool answered, const char *format, Args... args) {
    if (!ready())
      return false;
    redisAsyncCommand(ac_, answered ? &RedisLink::replied : nullptr, this,
                      format, args...);
    return true;
  }

  /// The link is silent (a health check): drops the connection at once,
  /// with what is pending (hiredis's disconnect would wait for replies
  /// that will not come), reports `why` and connects again.
  void drop(const std::string &why) {
    if (!ac_)
      return;
    dropping_ = true; // hiredis's callbacks during the free say nothing
    redisAsyncFree(ac_);
    dropping_ = false;
    ac_ = nullptr;
    lost(why);
  }

  /// No reconnecting; the connection ends once pending replies are in.
  void close() {
    closed_ = true;
    onup = nullptr;
    ondown = nullptr;
    onreply = nullptr;
    ws::clearTimeout(retry_);
    if (ac_)
      redisAsyncDisconnect(ac_); // frees it once pending replies are in
  }

private:
  std::string host_;
  int port_;
  redisAsyncContext *ac_ = nullptr;
  std::unique_ptr<FdWatch> watch_;
  bool want_[2] = {false, false}; // read, write: what hiredis asked for
  bool up_ = false, closed_ = false, dropping_ = false;
  std::chrono::milliseconds backoff_{100};
  TimerId retry_ = 0;

  // hiredis's reply callback; the link lives as long as its context does.
  static void replied(redisAsyncContext *, void *reply, void *me) {
    auto *self = static_cast<RedisLink *>(me);
    if (self->onreply)
      self->onreply(static_cast<redisReply *>(reply));
  }

  void up() {
    up_ = true;
    backoff_ = std::chrono::milliseconds(100);
    if (onup)
      onup();
  }

  // Reports the loss (once per outage) and tries again later: 0.1 s,
  // doubling to 5 s.
  void lost(const std::string &why) {
    const bool was_up = up_;
    up_ = false;
    if (closed_)
      return;
    if (ondown)
      ondown(was_up ? why : "cannot connect: " + why);
    std::weak_ptr<RedisLink> weak = shared_from_this();
    retry_ = ws::setTimeout(
        [weak] {
          if (auto self = weak.lock())
            self->connect();
        },
        backoff_);
    backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(5000));
  }

  // hiredis frees the context: the descriptor is its to close, not ours.
  void forget() {
    watch_.reset(); // cancels our waits, closes nothing
    ac_ = nullptr;
    want_[0] = want_[1] = false;
  }

  void want(int write, bool on) {
    want_[write] = on;
    arm();
  }

  // The waits hiredis asked for; each holds the link, so that a disconnect
  // asked for by close() runs to its end.
  void arm() {
    for (int write : {0, 1}) {
      if (!watch_ || !want_[write])
        continue;
      watch_->wait(write, [self = shared_from_this(), write] {
        if (!self->ac_ || !self->want_[write])
          return;
        if (write)
          redisAsyncHandleWrite(self->ac_);
        else
          redisAsyncHandleRead(self->ac_);
        self->arm();
      });
    }
  }
};

} // namespace ws::detail
