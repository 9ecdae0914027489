// The one place that includes Asio and websocketpp, and the config we run.
// SPDX-License-Identifier: MIT
#pragma once

// websocketpp must see standalone Asio; the meson dependency defines this too,
// but a user compiling by hand should not have to know.
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#ifndef _WEBSOCKETPP_CPP11_STL_
#define _WEBSOCKETPP_CPP11_STL_
#endif

#include "decl.hpp"

// websocketpp 0.8.2 declares constructors with template-ids (`basic<c, n>(`),
// which C++20 forbids and g++ 11 and later reject (clang accepts them).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 &&              \
    __cplusplus > 201703L && !defined(WS_NO_STANDARD_CHECK)
#error                                                                         \
    "websocketpp 0.8.2 does not compile as C++20 with g++: compile this file with -std=c++17, or with clang; or define WS_SEPARATE_COMPILATION so that only the file including <ws/src.hpp> needs C++17"
#endif

#include <asio.hpp>
#include <websocketpp/client.hpp>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>
#include <websocketpp/server.hpp>

#include "../options.hpp"
#include "socket.hpp"

#include <memory>

namespace ws::detail {

class Core;
struct Counters;

/// What every websocketpp connection carries for us (websocketpp makes it a
/// base of its connection class): the way back to the socket's core, so the
/// handlers need capture no more than the connection itself and websocketpp
/// stores them without a heap block of their own. A plain pointer, read and
/// cleared on the loop thread only: a core is only ever destroyed there, and
/// clears it then (see Core::~Core).
struct ConnectionBase {
  Core *core = nullptr;
  /// The core's counters (see Counters), kept as long as the connection
  /// and its queue of frames, which give back to them through plain
  /// pointers.
  std::shared_ptr<Counters> counters;
};

/// websocketpp's stock asio config with its locks and strands removed: every
/// websocketpp call is made on the one loop thread (other threads post to
/// it), so its mutexes would only cost time. The same config serves both
/// roles, and one socket policy serves ws:// and wss://, so every connection
/// has one type.
struct Config : websocketpp::config::asio_client {
  using type = Config;
  using concurrency_type = websocketpp::concurrency::none;
  using elog_type =
      websocketpp::log::basic<concurrency_type, websocketpp::log::elevel>;
  using alog_type =
      websocketpp::log::basic<concurrency_type, websocketpp::log::alevel>;
  using rng_type =
      websocketpp::random::random_device::int_generator<uint32_t,
                                                        concurrency_type>;
  static const bool enable_multithreading = false;
  using connection_base = ConnectionBase;
  // Each read takes up to this much: a 64 KiB message in one read and one
  // pass through the frame parser instead of four (1.3-1.5x on large
  // messages). An idle connection touches only the first page of it, so
  // its resident memory does not grow.
  static const size_t connection_read_buffer_size = 65536;

  struct transport_config : asio_client::transport_config {
    using concurrency_type = type::concurrency_type;
    using elog_type = type::elog_type;
    using alog_type = type::alog_type;
    static const bool enable_multithreading = false;
    // Plain TCP or TLS, chosen per connection.
    using socket_type = dual_socket::endpoint;
    // The TLS handshake, before the HTTP one starts: as long as the default
    // handshakeTimeout (websocketpp takes this one only at compile time).
    static constexpr long timeout_socket_post_init =
        ConnectionLimits().handshakeTimeout.count();
    // How long a closed connection waits for the peer's end of TCP (see
    // dual_socket's lingering close) before it is dropped anyway.
    static const long timeout_socket_shutdown = 1000;
  };
  using transport_type =
      websocketpp::transport::asio::endpoint<transport_config>;
};

using ClientEndpoint = websocketpp::client<Config>;
using ServerEndpoint = websocketpp::server<Config>;
using Connection = websocketpp::connection<Config>;
using ConnectionPtr = Connection::ptr;
using Message = Config::message_type;
using MessagePtr = Message::ptr;
using Hdl = websocketpp::connection_hdl;

} // namespace ws::detail
