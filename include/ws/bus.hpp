// ws::Bus: what carries a server's publishes to other servers (other
// processes, other machines), so that a topic's subscribers hear every
// publish wherever it was made. ws::RedisBus (<ws/redis.hpp>) is one; the
// interface is small so that another broker (NATS, Postgres LISTEN/NOTIFY)
// can be one too.
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#include "options.hpp"

#include <functional>
#include <string>
#include <string_view>

namespace ws {

/// A server uses one bus (ServerOptions::bus), and calls it on the loop
/// thread only; the bus calls `receive` there too.
///
/// What the server promises: subscribe(topic) when the topic gains its first
/// local subscriber, unsubscribe(topic) when it loses its last, so a bus asks
/// its broker only for topics someone here wants; publish() for each publish
/// made here (on any topic, subscribed here or not), in the order they were
/// made; close() once, when the server closes.
///
/// What the bus promises: each publish made on another server, on a topic
/// subscribed here, handed to `receive` once, in the order that server made
/// them; never this server's own publishes (the server has delivered them
/// already). While its broker is away it may drop publishes (local delivery
/// goes on without it), and it says so in its own way.
class Bus {
public:
  virtual ~Bus() = default;
  /// The first local subscriber to `topic` came: receive its publishes.
  virtual void subscribe(const std::string &topic) = 0;
  /// The last local subscriber to `topic` left.
  virtual void unsubscribe(const std::string &topic) = 0;
  /// A publish made here, for the other servers' subscribers.
  virtual void publish(const std::string &topic, std::string_view data,
                       SendOptions options) = 0;
  /// The server has closed: let the broker go, so that ws::run() returns.
  virtual void close() = 0;

  /// Set by the server that takes the bus, before any other call, and
  /// cleared when that server is destroyed: gives a publish made elsewhere
  /// to this server's subscribers.
  std::function<void(const std::string &topic, std::string_view data,
                     SendOptions options)>
      receive;
};

} // namespace ws
