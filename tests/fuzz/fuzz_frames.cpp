// libFuzzer target: websocketpp's frame parser in the server role, as ws
// configures it, with the checks ws adds: UTF-8 (our end-of-message check
// for fragmented text) and close frames (code and reason).
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

namespace {

using Config = ws::detail::Config;
using Processor = websocketpp::processor::hybi13<Config>;

void check_message(const ws::detail::MessagePtr &msg) {
  namespace op = websocketpp::frame::opcode;
  const std::string &payload = msg->get_payload();
  if (msg->get_opcode() == op::text) {
    // websocketpp checked every byte but the end; with ours, the whole.
    if (ws::detail::utf8_ends_complete(payload) !=
        ws::detail::valid_utf8(payload))
      std::abort();
  } else if (msg->get_opcode() == op::close) {
    websocketpp::lib::error_code ec;
    const auto code = websocketpp::close::extract_code(payload, ec);
    if (!ec) {
      // RFC 6455 7.4: never on the wire (a body-less close reads as 1005).
      if (payload.size() >= 2 && (code == 1005 || code == 1006 || code == 1015))
        std::abort();
      const std::string reason =
          websocketpp::close::extract_reason(payload, ec);
      if (!ec && !ws::detail::valid_utf8(reason))
        std::abort();
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data,
                                      std::size_t size) {
  static Config::rng_type rng;
  auto manager = std::make_shared<Config::con_msg_manager_type>();
  Processor parser(false, /*server=*/true, manager, rng);
  parser.set_max_message_size(1 << 20);
  // The parser writes unmasked bytes in place, as websocketpp's read buffer.
  std::string buffer(reinterpret_cast<const char *>(data), size);
  auto *bytes = reinterpret_cast<std::uint8_t *>(&buffer[0]);
  std::size_t at = 0;
  while (at < size) {
    websocketpp::lib::error_code ec;
    const std::size_t used = parser.consume(bytes + at, size - at, ec);
    if (ec)
      break; // a protocol error: ws closes the connection here
    at += used;
    if (parser.ready())
      check_message(parser.get_message());
    else if (used == 0)
      break;
  }
  return 0;
}
