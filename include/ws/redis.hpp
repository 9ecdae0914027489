// ws::RedisBus: a ws::Bus on Redis pub/sub, so that servers in several
// processes (or machines) share their topics: socket.io's Redis adapter, for
// ws::Server. hiredis (Debian's libhiredis-dev) speaks the protocol, on ws's
// own event loop through its asynchronous API, as its adapters for libuv or
// libevent do. Not part of <ws/websocket.hpp>: include it and use the
// `ws-redis` dependency (meson or pkg-config), which adds hiredis; the core
// never links it.
// SPDX-License-Identifier: MIT
#pragma once

#include "websocket.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ws {

namespace detail {

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
    fd_ = std::make_unique<asio::posix::stream_descriptor>(::ws::ioContext(),
                                                           ac_->c.fd);
    detail::keep_from_children(ac_->c.fd); // hiredis opens it inheritable
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

  /// The context to send commands on, or nullptr while down.
  redisAsyncContext *ready() const { return up_ ? ac_ : nullptr; }

  /// The link is silent (the health check): drops the connection at once,
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
  bool up_ = false, closed_ = false, dropping_ = false;
  std::chrono::milliseconds backoff_{100};
  asio::steady_timer retry_{::ws::ioContext()};

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

} // namespace detail

/// Node: @socket.io/redis-adapter; for ws::Server, a ws::Bus. Each topic is
/// the Redis channel `prefix + topic`; a publish made here goes out as
/// PUBLISH on one connection, and the topics this server has subscribers
/// for come back on a second (SUBSCRIBE, per topic: Redis then sends this
/// server only what someone here wants, each message once, where a pattern
/// would send every topic to every server).
///
/// Exactly once, in order: each server publishes on one connection, which
/// Redis delivers in order, to one subscription per topic per server; a
/// server skips its own publishes (tagged with its id), which it delivered
/// itself. A topic's first subscriber here may miss what other servers
/// publish before Redis confirms the subscription.
///
/// Outages: while Redis is away publishes stay local (the local subscribers
/// still get them) and are not queued for later; the bus reconnects with
/// back-off (0.1 s, doubling to 5 s), subscribes again to what it needs,
/// and sharing resumes. ready(), onready and onerror show the state.
///
/// Silent links (no FIN, no RST: a route gone, a NAT that forgot): hiredis
/// has no timeout in its asynchronous API that would see one (0.14 has
/// none; 1.x's redisAsyncSetTimeout does not cover a subscriber waiting for
/// messages) and turns no TCP keep-alive on, so a silent subscribing link
/// would be kept for as long as the kernel keeps it: for ever while idle.
/// So the bus checks its path, as redis-py's health_check_interval does,
/// but end to end: every healthCheckInterval it publishes to a channel of
/// its own and must hear that on its subscribing connection (first, that
/// Redis confirms the subscription) within the next interval. When it does
/// not, onerror says so, both connections are dropped and made again, and
/// sharing resumes once the path answers: a silent link is found within
/// two to three intervals.
///
/// Threads: build it on any thread before the loop runs (or on the loop
/// thread); everything else happens on the loop thread, ready() excepted.
class RedisBus : public Bus {
public:
  /// url: redis://HOST[:PORT] (6379 by default). Throws
  /// std::invalid_argument for anything else. It connects on the loop.
  explicit RedisBus(const std::string &url, std::string prefix = "ws:")
      : url_(url), prefix_(std::move(prefix)) {
    const std::string scheme = "redis://";
    std::string rest =
        url.rfind(scheme, 0) == 0 ? url.substr(scheme.size()) : std::string();
    const auto colon = rest.rfind(':');
    const std::string host = rest.substr(0, colon);
    const std::string port =
        colon == std::string::npos ? "6379" : rest.substr(colon + 1);
    if (host.empty() || host.find('/') != std::string::npos || port.empty() ||
        port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) > 65535)
      throw std::invalid_argument("RedisBus: '" + url +
                                  "' is not redis://HOST[:PORT]");
    std::random_device random;
    char id[20];
    std::snprintf(id, sizeof id, "%08x%08x", random(), random());
    id_ = id;
    health_channel_ = prefix_ + "health:" + id_;
    for (auto *link : {&pub_, &sub_}) {
      *link = std::make_shared<detail::RedisLink>();
      (*link)->host = host;
      (*link)->port = std::stoi(port);
    }
    pub_->ondown = [this](const std::string &why) { down(why); };
    sub_->ondown = [this](const std::string &why) {
      for (auto &c : channels_)
        c.second.on = c.second.pending = false;
      health_on_ = false;
      down(why);
    };
    pub_->onup = [this] { maybe_ready(); };
    sub_->onup = [this] { // a new connection: subscribe again
      redisAsyncCommand(sub_->ready(), &RedisBus::heard, this, "SUBSCRIBE %b",
                        health_channel_.data(), health_channel_.size());
      expect_answer();
      std::vector<std::string> topics;
      for (const auto &c : channels_)
        topics.push_back(c.first);
      for (const auto &topic : topics)
        sync(topic);
      maybe_ready();
    };
    asio::post(::ws::ioContext(), [this, pub = pub_, sub = sub_] {
      pub->connect();
      sub->connect();
      check_health();
    });
  }
  ~RedisBus() override { close(); }
  RedisBus(const RedisBus &) = delete;
  RedisBus &operator=(const RedisBus &) = delete;

  /// The bus shares: both connections are up. Safe from any thread.
  bool ready() const { return ready_.load(); }
  /// Sharing starts, or resumes after an outage.
  std::function<void()> onready;
  /// Sharing stopped (Redis went away, or cannot be reached), once per
  /// outage, with why; the bus is reconnecting.
  std::function<void(const std::string &why)> onerror;
  /// The URL given, for messages.
  const std::string &url() const { return url_; }
  /// redis-py: health_check_interval. 0: no check. Set it before the loop
  /// runs, or on the loop thread; it takes effect at the next check.
  std::chrono::milliseconds healthCheckInterval{5000};

  void subscribe(const std::string &topic) override {
    channels_[topic].wanted = true;
    sync(topic);
  }

  void unsubscribe(const std::string &topic) override {
    auto it = channels_.find(topic);
    if (it == channels_.end())
      return;
    it->second.wanted = false;
    sync(topic);
  }

  void publish(const std::string &topic, std::string_view data,
               SendOptions options) override {
    redisAsyncContext *ac = pub_->ready();
    if (!ac)
      return; // Redis is away: local subscribers had it, others miss it
    // "<id> <flags><data>": flags '0'-'3', bit 0 binary, bit 1 uncompressed.
    std::string tagged = id_ + " ";
    tagged += char('0' + (options.binary ? 1 : 0) + (options.compress ? 0 : 2));
    tagged.append(data.data(), data.size());
    const std::string channel = prefix_ + topic;
    redisAsyncCommand(ac, nullptr, nullptr, "PUBLISH %b %b", channel.data(),
                      channel.size(), tagged.data(), tagged.size());
  }

  /// No reconnecting, no more waiting on Redis: ws::run() may return.
  void close() override {
    ready_ = false;
    health_.cancel();
    pub_->onup = sub_->onup = nullptr;
    pub_->ondown = sub_->ondown = nullptr;
    pub_->close();
    sub_->close();
  }

private:
  /// One topic's subscription on Redis: wanted by the server, confirmed by
  /// Redis, or a command on its way (one at a time, so that a quick leave
  /// and join cannot cross).
  struct Channel {
    bool wanted = false, on = false, pending = false;
  };
  std::string url_, prefix_, id_;
  std::string health_channel_; // the health check's, this bus's own
  std::shared_ptr<detail::RedisLink> pub_, sub_;
  std::map<std::string, Channel> channels_; // by topic
  std::atomic<bool> ready_{false};
  bool outage_ = false; // reported already
  // The health check: its timer, whether Redis has confirmed the health
  // channel's subscription, and the answer awaited (since when).
  asio::steady_timer health_{::ws::ioContext()};
  bool health_on_ = false, awaiting_ = false;
  std::chrono::steady_clock::time_point asked_{};

  void expect_answer() {
    awaiting_ = true;
    asked_ = std::chrono::steady_clock::now();
  }

  /// One health check, every healthCheckInterval: an answer awaited for a
  /// whole interval means the path is silent; else, with both connections
  /// up and the subscription confirmed, ask again.
  void check_health() {
    const auto every = healthCheckInterval;
    if (every.count() > 0) {
      if (awaiting_ && std::chrono::steady_clock::now() - asked_ >= every &&
          pub_->ready() && sub_->ready()) {
        awaiting_ = false;
        const std::string why =
            "Redis at " + url_ + " did not answer the health check within " +
            std::to_string(every.count()) + " ms: the link is silent";
        pub_->drop(why);
        sub_->drop(why);
      } else if (!awaiting_ && health_on_ && pub_->ready()) {
        redisAsyncCommand(pub_->ready(), nullptr, nullptr, "PUBLISH %b %b",
                          health_channel_.data(), health_channel_.size(), "?",
                          size_t(1));
        expect_answer();
      }
    }
    health_.expires_after(every.count() > 0 ? every
                                            : std::chrono::milliseconds(1000));
    health_.async_wait([this](asio::error_code ec) {
      if (!ec)
        check_health();
    });
  }

  void sync(const std::string &topic) {
    auto it = channels_.find(topic);
    redisAsyncContext *ac = sub_->ready();
    if (it == channels_.end() || !ac || it->second.pending)
      return;
    Channel &c = it->second;
    const std::string channel = prefix_ + topic;
    if (c.wanted && !c.on) {
      c.pending = true;
      redisAsyncCommand(ac, &RedisBus::heard, this, "SUBSCRIBE %b",
                        channel.data(), channel.size());
    } else if (!c.wanted && c.on) {
      c.pending = true;
      // Its answer comes to the channel's SUBSCRIBE callback (hiredis).
      redisAsyncCommand(ac, nullptr, nullptr, "UNSUBSCRIBE %b", channel.data(),
                        channel.size());
    } else if (!c.wanted) {
      channels_.erase(it);
    }
  }

  // Every reply on the subscribing connection: confirmations and messages.
  static void heard(redisAsyncContext *, void *r, void *me) {
    auto *self = static_cast<RedisBus *>(me);
    auto *reply = static_cast<redisReply *>(r);
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[1]->type != REDIS_REPLY_STRING)
      return; // the connection went; its loss is reported already
    const std::string kind = reply->element[0]->str;
    const std::string channel(reply->element[1]->str, reply->element[1]->len);
    if (channel == self->health_channel_) {
      // The health channel: its subscription confirmed, or our own check.
      self->health_on_ = self->health_on_ || kind == "subscribe";
      self->awaiting_ = false;
      self->maybe_ready();
      return;
    }
    if (channel.compare(0, self->prefix_.size(), self->prefix_) != 0)
      return;
    const std::string topic = channel.substr(self->prefix_.size());
    auto it = self->channels_.find(topic);
    if (kind == "subscribe" || kind == "unsubscribe") {
      if (it == self->channels_.end())
        return;
      it->second.on = kind == "subscribe";
      it->second.pending = false;
      self->sync(topic);
    } else if (kind == "message" && it != self->channels_.end() &&
               it->second.wanted &&
               reply->element[2]->type == REDIS_REPLY_STRING) {
      const std::string_view tagged(reply->element[2]->str,
                                    reply->element[2]->len);
      const std::size_t head = self->id_.size() + 2;
      if (tagged.size() < head || tagged[self->id_.size()] != ' ' ||
          tagged.compare(0, self->id_.size(), self->id_) == 0)
        return; // ours (delivered here already), or not a bus message
      const int flags = tagged[head - 1] - '0';
      if (flags < 0 || flags > 3 || !self->receive)
        return;
      self->receive(topic, tagged.substr(head),
                    SendOptions{(flags & 1) != 0, (flags & 2) == 0});
    }
  }

  // Said once each time sharing starts: at first, and after each outage.
  void maybe_ready() {
    // With the health check, a connection is not enough (a silent path
    // connects too): Redis must have answered on it.
    if (ready_ || !pub_->ready() || !sub_->ready() ||
        (healthCheckInterval.count() > 0 && !health_on_))
      return;
    ready_ = true;
    outage_ = false;
    if (onready)
      onready();
  }

  void down(const std::string &why) {
    ready_ = false;
    if (outage_)
      return;
    outage_ = true;
    if (onerror)
      onerror(why);
  }
};

} // namespace ws
