// ws::ReadLine: standard input's lines as events on the loop, as Node's
// readline gives them, so a program reads its terminal without a thread.
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#include <functional>
#include <memory>
#include <string>

namespace ws {

namespace detail {
class LineReader;
}

/// Node: readline.createInterface({ input: process.stdin }). Reads standard
/// input on the event loop and fires `online` for each line (without its
/// "\n" or "\r\n"), then `onclose` once at the end of input or on close().
/// Until then it keeps ws::run() running, except while paused.
///
/// Threads: the loop thread only (or before the loop runs), as for handlers.
class ReadLine {
public:
  ReadLine();
  /// Stops reading; onclose does not fire.
  ~ReadLine();
  ReadLine(const ReadLine &) = delete;
  ReadLine &operator=(const ReadLine &) = delete;

  /// Node: rl.on("line", (line) => ...)
  std::function<void(const std::string &)> online;
  /// Node: rl.on("close", () => ...)
  std::function<void()> onclose;

  /// Node: rl.pause(): no line events (and no reading) until resume();
  /// lines already read wait, none is lost.
  void pause();
  /// Node: rl.resume()
  void resume();
  /// Node: rl.close(): stops reading and fires onclose (once).
  void close();

private:
  std::shared_ptr<detail::LineReader> reader_;
};

} // namespace ws

#ifndef WS_SEPARATE_COMPILATION
#include "impl/readline.hpp"
#endif
