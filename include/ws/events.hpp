// The events a WebSocket fires: open, message, error and close.
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ws {

class WebSocket;

/// A binary message payload: what JS holds in an ArrayBuffer. Sending one
/// sends a binary frame; sending a std::string sends a text frame.
using Binary = std::vector<std::uint8_t>;

/// JS: Event. `type` is "open", "message", "error" or "close" (or, with
/// ClientOptions::reconnect, "reconnecting").
struct Event {
  std::string type;
  /// JS: event.target, the socket that fired the event: valid while any
  /// handle to that socket is kept (compare with `*e.target == socket`;
  /// copy `*e.target` to keep the socket).
  WebSocket *target = nullptr;
};

/// JS: MessageEvent. `data` holds the payload bytes as received; `isBinary`
/// (as in Node `ws`) tells a binary frame from a text one, whose data is
/// always valid UTF-8.
struct MessageEvent : Event {
  std::string data;
  bool isBinary = false;
  /// The payload as a Binary, for code that wants bytes, not text.
  Binary binary() const {
    // From bytes of the same type, so the copy is one memcpy.
    const auto *bytes = reinterpret_cast<const std::uint8_t *>(data.data());
    return Binary(bytes, bytes + data.size());
  }
};

/// JS: CloseEvent. 1005 means the peer's close frame had no code; 1006 means
/// there was no close frame at all (the connection failed or dropped).
struct CloseEvent : Event {
  std::uint16_t code = 0;
  std::string reason;
  bool wasClean = false;
};

/// JS: the error event. Browsers hide why a connection failed; we don't, so
/// `message` says what went wrong.
struct ErrorEvent : Event {
  std::string message;
};

/// Node ws: the 'upgrade' event of a client, fired before open: the opening
/// handshake as it went over the wire (a browser shows it only in its
/// developer tools). For tools such as `wscat -v`.
struct UpgradeEvent : Event {
  std::string request;  ///< our request head, headers and all
  std::string response; ///< the server's 101 answer head
};

/// ws only (a browser leaves reconnection to the page): fired instead of
/// close when ClientOptions::reconnect will connect the socket again. It
/// says how the connection ended (what close would have said) and when the
/// next attempt starts.
struct ReconnectingEvent : Event {
  std::uint16_t code = 0;
  std::string reason;
  bool wasClean = false;
  /// 1 for the first attempt after an open connection ended, then 2, ...
  unsigned attempt = 0;
  /// How long the socket waits before that attempt.
  std::chrono::milliseconds delay{0};
};

} // namespace ws
