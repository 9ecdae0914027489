// Definitions for server.hpp: thin, forwarding to detail/server_core.hpp.
// SPDX-License-Identifier: MIT
#pragma once

#include "../detail/server_core.hpp"

#include <algorithm>

namespace ws {

WS_DECL bool CaseInsensitiveLess::operator()(const std::string &a,
                                             const std::string &b) const {
  return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return static_cast<unsigned char>(detail::ascii_lower(x)) <
               static_cast<unsigned char>(detail::ascii_lower(y));
      });
}

WS_DECL std::string Request::header(const std::string &name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

WS_DECL Server::Server(ServerOptions options)
    : core_(std::make_shared<detail::ServerCore>()) {
  core_->owner = this;
  core_->init(options);
  if (options.certFile.empty() && options.keyFile.empty()) {
    if (options.requestCert)
      throw TlsError("ServerOptions: requestCert needs TLS (certFile and "
                     "keyFile)");
    return;
  }
  if (options.certFile.empty() || options.keyFile.empty())
    throw TlsError("ServerOptions: certFile and keyFile go together");
#if WS_TLS
  auto tls = detail::server_context(options.certFile, options.keyFile,
                                    options.chainFile, options.requestCert,
                                    options.rejectUnauthorized, options.caFile);
  core_->endpoint.set_tls_init_handler([tls](detail::Hdl) { return tls; });
  core_->secure = true;
#else
  throw NotSupportedError(
      "Server: https and wss:// need TLS, which was not built into ws (build "
      "with OpenSSL: the meson option ws_tls, or define WS_TLS=1 and link "
      "-lssl -lcrypto).");
#endif
}

WS_DECL Server::~Server() {
  core_->shutdown();
  // websocketpp's aborted accept still refers to the endpoint: keep it until
  // the loop has run that handler.
  asio::post(detail::loop().ctx, [keep = core_] {});
}

WS_DECL void Server::listen(std::uint16_t port, const std::string &host) {
  auto &ctx = detail::loop().ctx;
  const std::string where =
      (host.empty() ? std::string("*") : host) + ":" + std::to_string(port);
  std::vector<asio::ip::tcp::endpoint> candidates;
  asio::error_code ec;
  if (host.empty()) {
    // Every interface: dual-stack IPv6, or IPv4 where IPv6 is off.
    candidates = {{asio::ip::tcp::v6(), port}, {asio::ip::tcp::v4(), port}};
  } else if (auto addr = asio::ip::make_address(host, ec); !ec) {
    candidates = {{addr, port}};
  } else {
    asio::ip::tcp::resolver resolver(ctx);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty())
      throw ListenError("listen(): cannot resolve host '" + host +
                        "': " + detail::reason(ec));
    candidates = {*results.begin()};
  }
  websocketpp::lib::error_code wec;
  for (const auto &ep : candidates) {
    core_->endpoint.listen(ep, wec);
    if (!wec)
      break;
  }
  if (wec) {
    // websocketpp may hide the system's reason behind "Underlying Transport
    // Error"; a bind of our own says it plainly (EADDRINUSE and so on).
    asio::ip::tcp::acceptor probe(ctx);
    asio::error_code bec;
    probe.open(candidates.back().protocol(), bec);
    if (!bec)
      probe.bind(candidates.back(), bec);
    const std::string why = detail::reason(bec ? bec : wec);
    throw ListenError("listen(): cannot listen on " + where + ": " + why);
  }
  core_->endpoint.start_accept(wec);
  if (wec)
    throw ListenError("listen(): cannot accept on " + where + ": " +
                      detail::reason(wec));
  core_->listening = true;
  core_->closing = false;
  core_->port = core_->endpoint.get_local_endpoint(ec).port();
}

WS_DECL std::uint16_t Server::port() const { return core_->port; }

WS_DECL bool Server::secure() const { return core_->secure; }

WS_DECL std::vector<WebSocket> Server::clients() const {
  return core_->clients();
}

WS_DECL void Server::broadcast(std::string_view text) {
  broadcast(text, SendOptions{});
}

WS_DECL void Server::broadcast(std::string_view data, SendOptions options) {
  if (!options.binary && !detail::valid_utf8(data))
    throw SyntaxError("broadcast(): the message is not valid UTF-8; send it "
                      "as ws::Binary instead.");
  core_->broadcast(options.binary ? websocketpp::frame::opcode::binary
                                  : websocketpp::frame::opcode::text,
                   data.data(), data.size(), options.compress);
}

WS_DECL void Server::broadcast(const Binary &data) {
  core_->broadcast(websocketpp::frame::opcode::binary,
                   reinterpret_cast<const char *>(data.data()), data.size(),
                   true);
}

WS_DECL void Server::publish(const std::string &topic, std::string_view text) {
  publish(topic, text, SendOptions{});
}

WS_DECL void Server::publish(const std::string &topic, const Binary &data) {
  publish(topic,
          std::string_view(reinterpret_cast<const char *>(data.data()),
                           data.size()),
          SendOptions{true});
}

WS_DECL void Server::publish(const std::string &topic, std::string_view data,
                             SendOptions options) {
  if (!options.binary && !detail::valid_utf8(data))
    throw SyntaxError("publish(): the message is not valid UTF-8; send it as "
                      "ws::Binary instead.");
  core_->publish(options.binary ? websocketpp::frame::opcode::binary
                                : websocketpp::frame::opcode::text,
                 data.data(), data.size(), options.compress, topic, {});
}

WS_DECL std::size_t Server::subscriberCount(const std::string &topic) const {
  return core_->topics->count(topic);
}

WS_DECL void Server::close() { core_->close(); }

} // namespace ws
