// RedisBus: chat_server instances share their messages through a Redis
// pub/sub channel. hiredis (Debian's libhiredis-dev) speaks the protocol; the
// few lines below plug its asynchronous API into ws's event loop, as its
// adapters for libuv or libevent do. Node has the same in the `redis`
// package: publisher.publish(channel, data), subscriber.subscribe(...).
// SPDX-License-Identifier: MIT
#pragma once

#include <ws/websocket.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <asio.hpp>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

namespace chat {

/// One connection to Redis, made again with back-off whenever it is lost.
class RedisLink : public std::enable_shared_from_this<RedisLink> {
public:
  std::string host;
  int port = 6379;
  /// Runs when the connection is up (again); `ready()` may send commands.
  std::function<void()> onup;
  /// Runs once when an up connection is lost or a connect fails, with why.
  std::function<void(const std::string &)> ondown;

  void connect() {
    if (closed_)
      return;
    ac_ = redisAsyncConnect(host.c_str(), port);
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
    ac_->ev.addRead = [](void *p) {
      static_cast<RedisLink *>(p)->want(true, true);
    };
    ac_->ev.delRead = [](void *p) {
      static_cast<RedisLink *>(p)->want(true, false);
    };
    ac_->ev.addWrite = [](void *p) {
      static_cast<RedisLink *>(p)->want(false, true);
    };
    ac_->ev.delWrite = [](void *p) {
      static_cast<RedisLink *>(p)->want(false, false);
    };
    ac_->ev.cleanup = [](void *p) { static_cast<RedisLink *>(p)->forget(); };
    fd_ = std::make_unique<asio::posix::stream_descriptor>(ws::ioContext(),
                                                           ac_->c.fd);
    redisAsyncSetConnectCallback(ac_, [](const redisAsyncContext *c, int ok) {
      auto *self = static_cast<RedisLink *>(c->data);
      if (ok == REDIS_OK)
        self->up();
      else
        self->lost(c->errstr); // hiredis frees the context next
    });
    redisAsyncSetDisconnectCallback(ac_, [](const redisAsyncContext *c, int) {
      auto *self = static_cast<RedisLink *>(c->data);
      self->lost(c->err ? c->errstr : "connection closed");
    });
  }

  /// The context to send commands on, or nullptr while down.
  redisAsyncContext *ready() const { return up_ ? ac_ : nullptr; }

  void close() {
    closed_ = true;
    retry_.cancel();
    if (ac_)
      redisAsyncDisconnect(ac_); // frees it once pending replies are in
  }

private:
  redisAsyncContext *ac_ = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> fd_;
  bool want_read_ = false, want_write_ = false;
  bool reading_ = false, writing_ = false;
  bool up_ = false, closed_ = false;
  std::chrono::milliseconds backoff_{100};
  asio::steady_timer retry_{ws::ioContext()};

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
    retry_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(5000));
    retry_.async_wait([self = shared_from_this()](asio::error_code ec) {
      if (!ec)
        self->connect();
    });
  }

  // hiredis frees the context: the descriptor is its to close, not ours.
  void forget() {
    if (fd_) {
      fd_->release(); // also cancels our waits
      fd_.reset();
    }
    ac_ = nullptr;
    want_read_ = want_write_ = false;
  }

  void want(bool read, bool on) {
    (read ? want_read_ : want_write_) = on;
    arm();
  }

  void arm() {
    if (!fd_)
      return;
    auto self = shared_from_this();
    if (want_read_ && !reading_) {
      reading_ = true;
      fd_->async_wait(asio::posix::descriptor_base::wait_read,
                      [self](asio::error_code ec) {
                        self->reading_ = false;
                        if (ec || !self->ac_ || !self->want_read_)
                          return;
                        redisAsyncHandleRead(self->ac_);
                        self->arm();
                      });
    }
    if (want_write_ && !writing_) {
      writing_ = true;
      fd_->async_wait(asio::posix::descriptor_base::wait_write,
                      [self](asio::error_code ec) {
                        self->writing_ = false;
                        if (ec || !self->ac_ || !self->want_write_)
                          return;
                        redisAsyncHandleWrite(self->ac_);
                        self->arm();
                      });
    }
  }
};

/// A channel every instance publishes to and hears from. A message this
/// instance published comes back tagged with its own id and is skipped: its
/// local sockets already have it.
class RedisBus {
public:
  /// A message another instance published.
  std::function<void(const std::string &)> onmessage;

  /// url: redis://HOST:PORT[/CHANNEL] (channel "chat" if none).
  explicit RedisBus(const std::string &url) : url_(url) {
    const std::string scheme = "redis://";
    if (url.rfind(scheme, 0) != 0)
      throw std::invalid_argument("--redis wants redis://HOST:PORT[/CHANNEL]");
    std::string rest = url.substr(scheme.size());
    const auto slash = rest.find('/');
    if (slash != std::string::npos) {
      channel_ = rest.substr(slash + 1);
      rest.erase(slash);
    }
    if (channel_.empty())
      channel_ = "chat";
    const auto colon = rest.rfind(':');
    const std::string port =
        colon == std::string::npos ? "6379" : rest.substr(colon + 1);
    if (port.empty() ||
        port.find_first_not_of("0123456789") != std::string::npos)
      throw std::invalid_argument("--redis: bad port in '" + url + "'");
    for (auto *link : {&pub_, &sub_}) {
      *link = std::make_shared<RedisLink>();
      (*link)->host = rest.substr(0, colon);
      (*link)->port = std::stoi(port);
    }
    pub_->ondown = [this](const std::string &why) { down(why); };
    sub_->ondown = [this](const std::string &why) {
      subscribed_ = false;
      down(why);
    };
    std::random_device random;
    id_ = std::to_string(random()) + std::to_string(random());
    pub_->onup = [this] { maybe_sharing(); };
    sub_->onup = [this] { subscribe(); };
    pub_->connect();
    sub_->connect();
  }

  /// Sends `text` to the other instances (dropped while Redis is away: the
  /// local sockets have it already).
  void publish(const std::string &text) {
    if (redisAsyncContext *ac = pub_->ready()) {
      const std::string tagged = id_ + " " + text;
      redisAsyncCommand(ac, nullptr, nullptr, "PUBLISH %b %b", channel_.data(),
                        channel_.size(), tagged.data(), tagged.size());
    }
  }

  /// Lets ws::run() return: no reconnecting, no more waiting on Redis.
  void close() {
    pub_->close();
    sub_->close();
  }

private:
  std::string url_, channel_, id_;
  std::shared_ptr<RedisLink> pub_, sub_;
  bool subscribed_ = false;
  bool sharing_ = false;
  bool outage_ = false; // reported already

  void subscribe() {
    redisAsyncCommand(
        sub_->ready(),
        [](redisAsyncContext *, void *r, void *me) {
          auto *self = static_cast<RedisBus *>(me);
          auto *reply = static_cast<redisReply *>(r);
          if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
            return; // the connection went; its loss is reported already
          const std::string kind = reply->element[0]->str;
          if (kind == "subscribe") {
            self->subscribed_ = true;
            self->maybe_sharing();
          } else if (kind == "message") {
            const std::string tagged(reply->element[2]->str,
                                     reply->element[2]->len);
            const auto space = tagged.find(' ');
            if (space != std::string::npos &&
                tagged.compare(0, space, self->id_) && self->onmessage)
              self->onmessage(tagged.substr(space + 1));
          }
        },
        this, "SUBSCRIBE %b", channel_.data(), channel_.size());
  }

  // Said once each time sharing starts: at first, and after each outage.
  void maybe_sharing() {
    if (sharing_ || !subscribed_ || !pub_->ready() || !sub_->ready())
      return;
    sharing_ = true;
    outage_ = false;
    std::cout << "chat_server sharing through " << url_ << std::endl;
  }

  void down(const std::string &why) {
    sharing_ = false;
    if (outage_)
      return;
    outage_ = true;
    std::cerr << "chat_server: redis " << url_ << ": " << why
              << "; serving local sockets only, reconnecting" << std::endl;
  }
};

} // namespace chat
