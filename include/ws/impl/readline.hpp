// Definitions for readline.hpp: thin, forwarding to detail/line_reader.hpp.
// SPDX-License-Identifier: MIT
#pragma once

#include "../detail/line_reader.hpp"

#include <utility>

namespace ws {
namespace detail {

inline void LineReader::fire_line(const std::string &line) {
  if (owner && owner->online) {
    auto h = owner->online; // a copy: the handler may reassign it
    guarded([&] { h(line); });
  }
}

inline void LineReader::pump() {
  auto keep = shared_from_this(); // a handler may destroy the ReadLine
  while (!paused && !closed) {
    const auto end = buffer.find('\n', next);
    if (end == std::string::npos)
      break;
    std::string line = buffer.substr(next, end - next);
    next = end + 1;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    fire_line(line);
  }
  if (paused || closed)
    return;
  buffer.erase(0, next);
  next = 0;
  if (ended) {
    // Node gives a last line without "\n" too.
    if (!buffer.empty())
      fire_line(std::exchange(buffer, std::string()));
    close();
    return;
  }
  if (reading)
    return;
  reading = true;
  in.async_read_some(
      asio::buffer(chunk),
      [self = std::move(keep)](const asio::error_code &ec, std::size_t n) {
        self->reading = false;
        if (self->closed)
          return;
        if (ec)
          self->ended = true; // end of input, or it cannot be read
        else
          self->buffer.append(self->chunk.data(), n);
        self->pump();
      });
}

inline void LineReader::close() {
  if (closed)
    return;
  auto keep = shared_from_this();
  ReadLine *o = owner;
  stop();
  owner = o;
  if (owner && owner->onclose) {
    auto h = owner->onclose;
    guarded([&] { h(); });
  }
}

} // namespace detail

WS_DECL ReadLine::ReadLine()
    : reader_(std::make_shared<detail::LineReader>(this)) {
  // Reading starts on the loop, so handlers assigned right after
  // construction see every line.
  asio::post(detail::loop().ctx, [r = reader_] { r->pump(); });
}

WS_DECL ReadLine::~ReadLine() { reader_->stop(); }

WS_DECL void ReadLine::pause() { reader_->paused = true; }

WS_DECL void ReadLine::resume() {
  reader_->paused = false;
  asio::post(detail::loop().ctx, [r = reader_] { r->pump(); });
}

WS_DECL void ReadLine::close() { reader_->close(); }

} // namespace ws
