// The one include: the browser's WebSocket API, a server, and the event loop.
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#include "bus.hpp"
#include "close_codes.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "events.hpp"
#include "options.hpp"
#include "readline.hpp"
#include "server.hpp"
#include "version.hpp"
#include "web_socket.hpp"
