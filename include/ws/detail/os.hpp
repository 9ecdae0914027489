// What ws asks of the operating system beside Asio: sockets kept from child
// processes, and a failed socket call's reason in the same words everywhere.
// SPDX-License-Identifier: MIT
#pragma once

#include "prelude.hpp"

#include <asio/detail/socket_types.hpp>
#include <asio/error.hpp>

#include <string>
#include <system_error>
#include <utility>

#ifndef _WIN32
#include <fcntl.h>
#endif

namespace ws::detail {

/// Keeps a socket out of the programs this one starts. Asio opens and
/// accepts without SOCK_CLOEXEC (Windows: handles are inheritable), so a
/// child a ws program spawned would otherwise hold its listening socket
/// (the port stays bound after the program exits) and its connections
/// (one it drops without a shutdown stays open for the peer). Node's libuv
/// does the same for every socket.
inline void keep_from_children(asio::detail::socket_type s) {
#ifdef _WIN32
  SetHandleInformation(reinterpret_cast<HANDLE>(s), HANDLE_FLAG_INHERIT, 0);
#else
  const int flags = ::fcntl(s, F_GETFD);
  if (flags >= 0)
    ::fcntl(s, F_SETFD, flags | FD_CLOEXEC);
#endif
}

/// Why a socket call failed, in Linux's words on every system: the docs and
/// the tests quote them, and a program should not read differently per
/// system. (Windows says "No connection could be made because the target
/// machine actively refused it." where Linux says "Connection refused".)
inline std::string reason(const std::error_code &ec) {
  namespace e = asio::error;
  static const std::pair<std::error_code, const char *> linux_words[] = {
      {e::connection_refused, "Connection refused"},
      {e::connection_reset, "Connection reset by peer"},
      {e::connection_aborted, "Software caused connection abort"},
      {e::timed_out, "Connection timed out"},
      {e::host_unreachable, "No route to host"},
      {e::network_unreachable, "Network is unreachable"},
      {e::network_down, "Network is down"},
      {e::address_in_use, "Address already in use"},
      {e::access_denied, "Permission denied"},
      {e::broken_pipe, "Broken pipe"},
      {e::host_not_found, "Host not found (authoritative)"},
      {e::host_not_found_try_again,
       "Host not found (non-authoritative), try again later"},
  };
  for (const auto &[code, words] : linux_words)
    if (ec == code)
      return words;
  return ec.message();
}

} // namespace ws::detail
