// The one include: the browser's WebSocket API, a server, and the event loop.
// SPDX-License-Identifier: MIT
#pragma once

#include "close_codes.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "events.hpp"
#include "options.hpp"
#include "readline.hpp"
#include "server.hpp"
#include "web_socket.hpp"
