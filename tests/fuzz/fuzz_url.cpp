// libFuzzer target: the WebSocket constructor's URL parser. Any input either
// throws ws::SyntaxError or gives a URL whose href parses back to itself.
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data,
                                      std::size_t size) {
  const std::string input(reinterpret_cast<const char *>(data), size);
  ws::detail::Url url;
  try {
    url = ws::detail::parse_websocket_url(input);
  } catch (const ws::SyntaxError &) {
    return 0;
  }
  // What WebSocket.url shows must itself be a valid URL meaning the same.
  const ws::detail::Url again = ws::detail::parse_websocket_url(url.href);
  if (again.href != url.href || again.host != url.host ||
      again.effective_port() != url.effective_port() ||
      again.path != url.path || again.query != url.query || url.path.empty() ||
      url.path[0] != '/' || (url.scheme != "ws" && url.scheme != "wss"))
    std::abort();
  return 0;
}
