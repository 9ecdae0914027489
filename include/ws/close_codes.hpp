// Close codes of RFC 6455 section 7.4.1, each with the RFC's sentence.
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#include <cstdint>

namespace ws {

/// Named close codes. close() accepts 1000 and 3000-4999 only (as a browser
/// does); the others are what a CloseEvent may report.
struct CloseCode {
  /// "indicates a normal closure, meaning that the purpose for which the
  /// connection was established has been fulfilled."
  static constexpr std::uint16_t normalClosure = 1000;
  /// "indicates that an endpoint is "going away", such as a server going down
  /// or a browser having navigated away from a page."
  static constexpr std::uint16_t goingAway = 1001;
  /// "indicates that an endpoint is terminating the connection due to a
  /// protocol error."
  static constexpr std::uint16_t protocolError = 1002;
  /// "indicates that an endpoint is terminating the connection because it has
  /// received a type of data it cannot accept."
  static constexpr std::uint16_t unsupportedData = 1003;
  /// "a reserved value ... designated for use in applications expecting a
  /// status code to indicate that no status code was actually present."
  static constexpr std::uint16_t noStatusReceived = 1005;
  /// "a reserved value ... used ... to indicate that the connection was closed
  /// abnormally, e.g., without sending or receiving a Close control frame."
  static constexpr std::uint16_t abnormalClosure = 1006;
  /// "indicates that an endpoint is terminating the connection because it has
  /// received data within a message that was not consistent with the type of
  /// the message (e.g., non-UTF-8 data within a text message)."
  static constexpr std::uint16_t invalidFramePayloadData = 1007;
  /// "indicates that an endpoint is terminating the connection because it has
  /// received a message that violates its policy."
  static constexpr std::uint16_t policyViolation = 1008;
  /// "indicates that an endpoint is terminating the connection because it has
  /// received a message that is too big for it to process."
  static constexpr std::uint16_t messageTooBig = 1009;
  /// "indicates that an endpoint (client) is terminating the connection
  /// because it has expected the server to negotiate one or more extension."
  static constexpr std::uint16_t mandatoryExtension = 1010;
  /// "indicates that a server is terminating the connection because it
  /// encountered an unexpected condition that prevented it from fulfilling the
  /// request."
  static constexpr std::uint16_t internalError = 1011;
};

} // namespace ws
