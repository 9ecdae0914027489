// ws::RedisBus: a ws::Bus on Redis pub/sub, so that servers in several
// processes (or machines) share their topics: socket.io's Redis adapter, for
// ws::Server. hiredis (Debian's libhiredis-dev) speaks the protocol, on ws's
// own event loop through its asynchronous API (detail/redis_link.hpp). Not
// part of <ws/websocket.hpp>: include it and use the `ws-redis` dependency
// (meson or pkg-config), which adds hiredis; the core never links it. It
// parses no Asio, so it serves a separately compiled program as it is.
// SPDX-License-Identifier: MIT
#pragma once

#include "websocket.hpp"

#include "detail/redis_link.hpp"

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

#ifndef _WIN32

namespace ws {

namespace detail {

/// A RedisBus's state and work, shared so that what the loop runs later
/// (a connect posted by the constructor, a health check's timer, a reply)
/// holds it weakly and finds it gone once the bus is: the bus may be
/// dropped at any time on the loop thread, even before the loop runs.
class RedisBusCore : public std::enable_shared_from_this<RedisBusCore> {
public:
  /// What the bus is told (RedisBus forwards each to its own members).
  std::function<void()> onready;
  std::function<void(const std::string &)> onerror;
  std::function<void(const std::string &, std::string_view, SendOptions)>
      onmessage;
  std::function<std::chrono::milliseconds()> interval; // health checks
  std::atomic<bool> ready{false};

  RedisBusCore(std::string url, const std::string &host, int port,
               std::string prefix)
      : url_(std::move(url)), prefix_(std::move(prefix)) {
    std::random_device random;
    char id[20];
    std::snprintf(id, sizeof id, "%08x%08x", random(), random());
    id_ = id;
    health_channel_ = prefix_ + "health:" + id_;
    pub_ = std::make_shared<RedisLink>(host, port);
    sub_ = std::make_shared<RedisLink>(host, port);
  }

  /// Connects on the loop.
  void start() {
    std::weak_ptr<RedisBusCore> weak = shared_from_this();
    pub_->ondown = [weak](const std::string &why) {
      if (auto self = weak.lock())
        self->down(why);
    };
    sub_->ondown = [weak](const std::string &why) {
      if (auto self = weak.lock())
        self->sub_down(why);
    };
    pub_->onup = [weak] {
      if (auto self = weak.lock())
        self->maybe_ready();
    };
    sub_->onup = [weak] {
      if (auto self = weak.lock())
        self->sub_up();
    };
    sub_->onreply = [weak](redisReply *reply) {
      if (auto self = weak.lock())
        self->heard(reply);
    };
    ws::post([weak] {
      if (auto self = weak.lock(); self && !self->closed_) {
        self->pub_->connect();
        self->sub_->connect();
        self->check_health();
      }
    });
  }

  void subscribe(const std::string &topic) {
    channels_[topic].wanted = true;
    sync(topic);
  }

  void unsubscribe(const std::string &topic) {
    auto it = channels_.find(topic);
    if (it == channels_.end())
      return;
    it->second.wanted = false;
    sync(topic);
  }

  void publish(const std::string &topic, std::string_view data,
               SendOptions options) {
    if (!pub_->ready())
      return; // Redis is away: local subscribers had it, others miss it
    // "<id> <flags><data>": flags '0'-'3', bit 0 binary, bit 1 uncompressed.
    std::string tagged = id_ + " ";
    tagged += char('0' + (options.binary ? 1 : 0) + (options.compress ? 0 : 2));
    tagged.append(data.data(), data.size());
    const std::string channel = prefix_ + topic;
    pub_->command(false, "PUBLISH %b %b", channel.data(), channel.size(),
                  tagged.data(), tagged.size());
  }

  void close() {
    closed_ = true;
    ready = false;
    ws::clearTimeout(health_);
    onready = nullptr;
    onerror = nullptr;
    onmessage = nullptr;
    interval = nullptr;
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
  std::shared_ptr<RedisLink> pub_, sub_;
  std::map<std::string, Channel> channels_; // by topic
  bool closed_ = false;
  bool outage_ = false; // reported already
  // The health check: its timer, whether Redis has confirmed the health
  // channel's subscription, and the answer awaited (since when).
  TimerId health_ = 0;
  bool health_on_ = false, awaiting_ = false;
  std::chrono::steady_clock::time_point asked_{};

  std::chrono::milliseconds every() const {
    return interval ? interval() : std::chrono::milliseconds(0);
  }

  void sub_up() { // a new connection: subscribe again
    sub_->command(true, "SUBSCRIBE %b", health_channel_.data(),
                  health_channel_.size());
    expect_answer();
    std::vector<std::string> topics;
    for (const auto &c : channels_)
      topics.push_back(c.first);
    for (const auto &topic : topics)
      sync(topic);
    maybe_ready();
  }

  void sub_down(const std::string &why) {
    for (auto &c : channels_)
      c.second.on = c.second.pending = false;
    health_on_ = false;
    down(why);
  }

  void expect_answer() {
    awaiting_ = true;
    asked_ = std::chrono::steady_clock::now();
  }

  /// One health check, every interval: an answer awaited for a whole
  /// interval means the path is silent; else, with both connections up and
  /// the subscription confirmed, ask again.
  void check_health() {
    if (closed_)
      return;
    const auto every = this->every();
    if (every.count() > 0) {
      if (awaiting_ && std::chrono::steady_clock::now() - asked_ >= every &&
          pub_->ready() && sub_->ready()) {
        awaiting_ = false;
        const std::string why =
            "Redis at " + url_ + " did not answer the health check within " +
            std::to_string(every.count()) + " ms: the link is silent";
        pub_->drop(why);
        sub_->drop(why); // onerror may have closed the bus
      } else if (!awaiting_ && health_on_ &&
                 pub_->command(false, "PUBLISH %b %b", health_channel_.data(),
                               health_channel_.size(), "?", size_t(1))) {
        expect_answer();
      }
    }
    if (closed_)
      return;
    std::weak_ptr<RedisBusCore> weak = shared_from_this();
    health_ = ws::setTimeout(
        [weak] {
          if (auto self = weak.lock())
            self->check_health();
        },
        every.count() > 0 ? every : std::chrono::milliseconds(1000));
  }

  void sync(const std::string &topic) {
    auto it = channels_.find(topic);
    if (it == channels_.end() || !sub_->ready() || it->second.pending)
      return;
    Channel &c = it->second;
    const std::string channel = prefix_ + topic;
    if (c.wanted && !c.on) {
      c.pending =
          sub_->command(true, "SUBSCRIBE %b", channel.data(), channel.size());
    } else if (!c.wanted && c.on) {
      // Its answer comes to the channel's SUBSCRIBE callback (hiredis).
      c.pending = sub_->command(false, "UNSUBSCRIBE %b", channel.data(),
                                channel.size());
    } else if (!c.wanted) {
      channels_.erase(it);
    }
  }

  // Every reply on the subscribing connection: confirmations and messages.
  void heard(redisReply *reply) {
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[1]->type != REDIS_REPLY_STRING)
      return; // the connection went; its loss is reported already
    const std::string kind = reply->element[0]->str;
    const std::string channel(reply->element[1]->str, reply->element[1]->len);
    if (channel == health_channel_) {
      // The health channel: its subscription confirmed, or our own check.
      health_on_ = health_on_ || kind == "subscribe";
      awaiting_ = false;
      maybe_ready();
      return;
    }
    if (channel.compare(0, prefix_.size(), prefix_) != 0)
      return;
    const std::string topic = channel.substr(prefix_.size());
    auto it = channels_.find(topic);
    if (kind == "subscribe" || kind == "unsubscribe") {
      if (it == channels_.end())
        return;
      it->second.on = kind == "subscribe";
      it->second.pending = false;
      sync(topic);
    } else if (kind == "message" && it != channels_.end() &&
               it->second.wanted &&
               reply->element[2]->type == REDIS_REPLY_STRING) {
      const std::string_view tagged(reply->element[2]->str,
                                    reply->element[2]->len);
      const std::size_t head = id_.size() + 2;
      if (tagged.size() < head || tagged[id_.size()] != ' ' ||
          tagged.compare(0, id_.size(), id_) == 0)
        return; // ours (delivered here already), or not a bus message
      const int flags = tagged[head - 1] - '0';
      if (flags < 0 || flags > 3 || !onmessage)
        return;
      auto h = onmessage; // a copy: the handler may close the bus
      h(topic, tagged.substr(head),
        SendOptions{(flags & 1) != 0, (flags & 2) == 0});
    }
  }

  // Said once each time sharing starts: at first, and after each outage.
  void maybe_ready() {
    // With the health check, a connection is not enough (a silent path
    // connects too): Redis must have answered on it.
    if (ready || !pub_->ready() || !sub_->ready() ||
        (every().count() > 0 && !health_on_))
      return;
    ready = true;
    outage_ = false;
    if (auto h = onready) // a copy: the handler may close the bus
      h();
  }

  void down(const std::string &why) {
    ready = false;
    if (outage_)
      return;
    outage_ = true;
    if (auto h = onerror) // a copy: the handler may close the bus
      h(why);
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
      : url_(url) {
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
    core_ = std::make_shared<detail::RedisBusCore>(url, host, std::stoi(port),
                                                   std::move(prefix));
    // The core outlives no call into this bus: close() clears these.
    core_->onready = [this] {
      if (onready)
        onready();
    };
    core_->onerror = [this](const std::string &why) {
      if (onerror)
        onerror(why);
    };
    core_->onmessage = [this](const std::string &topic, std::string_view data,
                              SendOptions options) {
      if (receive)
        receive(topic, data, options);
    };
    core_->interval = [this] { return healthCheckInterval; };
    core_->start();
  }
  ~RedisBus() override { close(); }
  RedisBus(const RedisBus &) = delete;
  RedisBus &operator=(const RedisBus &) = delete;

  /// The bus shares: both connections are up. Safe from any thread.
  bool ready() const { return core_->ready.load(); }
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

  void subscribe(const std::string &topic) override { core_->subscribe(topic); }
  void unsubscribe(const std::string &topic) override {
    core_->unsubscribe(topic);
  }
  void publish(const std::string &topic, std::string_view data,
               SendOptions options) override {
    core_->publish(topic, data, options);
  }
  /// No reconnecting, no more waiting on Redis: ws::run() may return.
  void close() override { core_->close(); }

private:
  std::string url_;
  std::shared_ptr<detail::RedisBusCore> core_;
};

} // namespace ws

#endif // _WIN32
