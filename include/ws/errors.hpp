// The DOM exceptions the WebSocket API throws, named as the DOM names them.
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#include <stdexcept>
#include <string>

namespace ws {

/// JS: DOMException. Base of every exception the API throws; `name()` is the
/// DOM name and `what()` reads "Name: message", like a browser console.
class DOMException : public std::runtime_error {
public:
  DOMException(const std::string &name, const std::string &message)
      : std::runtime_error(name + ": " + message), name_(name),
        message_(message) {}

  /// JS: e.name, e.g. "SyntaxError".
  const std::string &name() const noexcept { return name_; }
  /// JS: e.message, without the name.
  const std::string &message() const noexcept { return message_; }

private:
  std::string name_;
  std::string message_;
};

/// Thrown for a bad URL, a bad subprotocol list, a close reason over 123
/// bytes, or text that is not UTF-8.
class SyntaxError : public DOMException {
public:
  explicit SyntaxError(const std::string &message)
      : DOMException("SyntaxError", message) {}
};

/// Thrown by send() while readyState is CONNECTING.
class InvalidStateError : public DOMException {
public:
  explicit InvalidStateError(const std::string &message)
      : DOMException("InvalidStateError", message) {}
};

/// Thrown by close() for a code other than 1000 or 3000-4999.
class InvalidAccessError : public DOMException {
public:
  explicit InvalidAccessError(const std::string &message)
      : DOMException("InvalidAccessError", message) {}
};

/// Thrown for a feature this build lacks (wss:// without TLS).
class NotSupportedError : public DOMException {
public:
  explicit NotSupportedError(const std::string &message)
      : DOMException("NotSupportedError", message) {}
};

/// Not a DOM exception: JS TypeError, thrown by the streams of
/// <ws/stream.hpp> as the Streams standard throws it (a reader asked of a
/// stream that already has one). `what()` reads "TypeError: message".
class TypeError : public std::runtime_error {
public:
  explicit TypeError(const std::string &message)
      : std::runtime_error("TypeError: " + message) {}
};

/// Not a DOM exception: Server::listen() could not bind (Node emits an
/// 'error' event with EADDRINUSE there). `what()` names address and port.
class ListenError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Not a DOM exception: a certificate, key or CA file could not be used
/// (Node throws from tls.createSecureContext there). `what()` names the file
/// and OpenSSL's reason.
class TlsError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

} // namespace ws
