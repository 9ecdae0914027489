// The library's definitions, for separate compilation: with
// WS_SEPARATE_COMPILATION defined for the whole program, include this in
// exactly one source file (as Asio's <asio/impl/src.hpp> and Beast's
// <boost/beast/src.hpp>). That file alone parses Asio and websocketpp (and
// so alone needs a standard websocketpp compiles in: C++17 everywhere); every
// other file that includes <ws/websocket.hpp> parses only the API.
// SPDX-License-Identifier: MIT
#pragma once

#ifndef WS_SEPARATE_COMPILATION
#error                                                                         \
    "<ws/src.hpp> is for separate compilation: define WS_SEPARATE_COMPILATION for every file of the program, or include only <ws/websocket.hpp> (header-only)"
#endif

#include "detail/fd_watch.hpp"
#include "websocket.hpp"

#include "impl/event_loop.hpp"
#include "impl/fd_watch.hpp"
#include "impl/readline.hpp"
#include "impl/server.hpp"
#include "impl/web_socket.hpp"
