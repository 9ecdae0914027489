// stream_client: a chat client written with WebSocketStream (C++20,
// <ws/stream.hpp>). It writes each LINE to a chat_server, prints what the
// room says until its own last line comes back, and closes. Each statement
// follows its twin in examples/js/stream_client.js (a page's
// WebSocketStream: Chromium has one) after "JS:". Every write is awaited, so
// however many lines there are, one is queued at a time.
// SPDX-License-Identifier: MIT
#include <ws/stream.hpp>
#include <ws/websocket.hpp>

#include <iostream>
#include <string>
#include <vector>

static const char usage[] =
    "usage: stream_client URL LINE... [--version]\n"
    "Writes each LINE to the chat_server at URL (ws://host:port/) through a\n"
    "WebSocketStream, prints each message the room sends until its own last\n"
    "line comes back, then closes with 1000 and prints the close.\n"
    "  --version      print the version and exit\n"
    "Exits 0 when the stream closed cleanly, 1 otherwise, 2 on a usage "
    "error.\n";

// JS: async function chat(url, lines) {
ws::Task<int> chat(std::string url, std::vector<std::string> lines) {
  // JS: try {
  try {
    // JS: const wss = new WebSocketStream(url);
    ws::WebSocketStream wss(url);
    // JS: const { readable, writable } = await wss.opened;
    auto [readable, writable, extensions, protocol] = co_await wss.opened();
    // JS: const reader = readable.getReader();
    auto reader = readable.getReader();
    // JS: const writer = writable.getWriter();
    auto writer = writable.getWriter();
    // JS: for (const line of lines) {
    for (const std::string &line : lines) {
      // JS: await writer.write(line);
      co_await writer.write(line);
    }
    // JS: for (;;) {
    for (;;) {
      // JS: const { value, done } = await reader.read();
      auto [value, done] = co_await reader.read();
      // JS: if (done) break;
      if (done)
        break;
      // JS: console.log(value);
      std::cout << value.data << std::endl;
      // JS: if (value === lines[lines.length - 1]) break;
      if (value.data == lines.back())
        break;
    }
    // JS: wss.close({ closeCode: 1000, reason: "done" });
    wss.close({.closeCode = 1000, .reason = "done"});
    // JS: const { closeCode, reason } = await wss.closed;
    auto [closeCode, reason] = co_await wss.closed();
    // JS: console.log(`closed ${closeCode} ${reason}`);
    std::cout << "closed " << closeCode << " " << reason << std::endl;
    // JS: return 0;
    co_return 0;
    // JS: } catch (error) {
  } catch (const std::exception &error) {
    // JS: console.error(`stream_client: ${error.message}`);
    std::cerr << "stream_client: " << error.what() << std::endl;
    // JS: return 1;
    co_return 1;
  }
}

// C++ only: main() awaits chat() in a task of its own, as a page's script
// awaits it at its top level.
ws::Task<void> run_chat(std::string url, std::vector<std::string> lines,
                        int &status) {
  status = co_await chat(std::move(url), std::move(lines));
}

int main(int argc, char **argv) {
  // C++ only: the flags.
  std::string url;
  std::vector<std::string> lines;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else if (arg == "--version") {
      std::cout << "stream_client " << ws::version << "\n";
      return 0;
    } else if (url.empty()) {
      url = arg;
    } else {
      lines.push_back(arg);
    }
  }
  if (lines.empty()) {
    std::cerr << usage;
    return 2;
  }
  int status = 1;
  ws::spawn(run_chat(url, lines, status));
  // C++ only: a browser runs its event loop by itself. A bad URL makes the
  // constructor throw SyntaxError, which chat() reports as JS's would.
  ws::run();
  return status;
}
