// Links every public header's translation unit together: a missing `inline`
// is a duplicate symbol here.
// SPDX-License-Identifier: MIT
#include <ws/websocket.hpp>

int main() {
  // Touches the loop so its definitions are really used.
  return ws::runUntil([] { return true; }, std::chrono::milliseconds(1)) ? 0
                                                                         : 1;
}
