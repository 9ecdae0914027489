// Which HTTP proxy a client goes through: ClientOptions::proxy, or the
// environment's as curl reads it, and the CONNECT tunnel asked of it.
// SPDX-License-Identifier: MIT
#pragma once

#include "../errors.hpp"
#include "../options.hpp"
#include "config.hpp"
#include "socket.hpp"
#include "url.hpp"

#include <websocketpp/base64/base64.hpp>

#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <string>

namespace ws::detail {

/// A proxy to dial and the tunnel to ask it for.
struct ProxyRoute {
  std::string address; // http://host:port, as websocketpp dials it
  dual_socket::Tunnel tunnel;
};

/// The value of the first of these environment variables that is set and
/// not empty.
inline std::string first_env(std::initializer_list<const char *> names) {
  for (const char *name : names)
    if (const char *v = std::getenv(name); v && *v)
      return v;
  return "";
}

/// curl's NO_PROXY: a comma-separated list of host names (each also
/// matching its subdomains; a leading dot is the same) and addresses, or
/// "*" for every host. Addresses match exactly (no CIDR ranges).
inline bool no_proxy_for(const std::string &host, const std::string &list) {
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[')
    bare = bare.substr(1, bare.size() - 2);
  std::size_t at = 0;
  while (at <= list.size()) {
    std::size_t end = list.find(',', at);
    if (end == std::string::npos)
      end = list.size();
    std::string entry = list.substr(at, end - at);
    at = end + 1;
    const auto b = entry.find_first_not_of(" \t");
    if (b == std::string::npos)
      continue;
    entry = ascii_lower(entry.substr(b, entry.find_last_not_of(" \t") - b + 1));
    if (entry == "*")
      return true;
    if (entry.front() == '.')
      entry.erase(0, 1);
    if (entry.size() > 2 && entry.front() == '[')
      entry = entry.substr(1, entry.size() - 2);
    if (bare == entry ||
        (bare.size() > entry.size() &&
         bare.compare(bare.size() - entry.size(), entry.size(), entry) == 0 &&
         bare[bare.size() - entry.size() - 1] == '.'))
      return true;
  }
  return false;
}

/// The proxy for a connection to `target`, or nullptr for none. Throws
/// ws::SyntaxError for a proxy URL that does not parse and
/// ws::NotSupportedError for a scheme other than http.
inline std::unique_ptr<ProxyRoute> proxy_route(const Url &target,
                                               const ClientOptions &options) {
  std::string proxy = options.proxy;
  if (proxy.empty() && options.proxyFromEnvironment) {
    // curl reads http_proxy in lower case only (HTTP_PROXY can be set by
    // a web server's client in CGI), the others in either.
    proxy = target.scheme == "wss" ? first_env({"https_proxy", "HTTPS_PROXY"})
                                   : first_env({"http_proxy"});
    if (proxy.empty())
      proxy = first_env({"all_proxy", "ALL_PROXY"});
    if (proxy.empty() ||
        no_proxy_for(target.host, first_env({"no_proxy", "NO_PROXY"})))
      return nullptr;
  }
  if (proxy.empty())
    return nullptr;
  const std::string what =
      "Failed to construct 'WebSocket': the proxy '" + proxy + "' ";
  // As in curl: no scheme means http://.
  const auto scheme_end = proxy.find("://");
  if (scheme_end == std::string::npos)
    proxy = "http://" + proxy;
  else if (ascii_lower(proxy.substr(0, scheme_end)) != "http")
    throw NotSupportedError(what + "is not an http:// proxy (only HTTP "
                                   "CONNECT proxies are supported).");
  Url url;
  try {
    url = parse_websocket_url(proxy);
  } catch (const SyntaxError &) {
    throw SyntaxError(what + "is not a valid URL.");
  }
  // The URL parser drops a port equal to http's default (80); curl's
  // default for a proxy without one is 1080.
  const std::size_t start = proxy.find("://") + 3;
  const std::string authority =
      proxy.substr(start, proxy.find_first_of("/?#", start) - start);
  const auto at = authority.rfind('@');
  const std::string host_port = authority.substr(at + 1);
  const auto bracket = host_port.rfind(']');
  const bool has_port =
      host_port.find(':', bracket == std::string::npos ? 0 : bracket) !=
      std::string::npos;
  const int port = url.port >= 0 ? url.port : has_port ? 80 : 1080;

  auto route = std::make_unique<ProxyRoute>();
  route->tunnel.proxy = "http://" + url.host + ":" + std::to_string(port);
  route->address = route->tunnel.proxy;
  route->tunnel.authority =
      target.host + ":" + std::to_string(target.effective_port());
  if (at != std::string::npos) {
    // As written: the URL parser's userinfo has its ':' encoded.
    const std::string userinfo = authority.substr(0, at);
    const auto colon = userinfo.find(':');
    const std::string credentials =
        percent_decode(userinfo.substr(0, colon)) + ":" +
        (colon == std::string::npos
             ? ""
             : percent_decode(userinfo.substr(colon + 1)));
    route->tunnel.authorization =
        "Basic " + websocketpp::base64_encode(credentials);
  }
  return route;
}

} // namespace ws::detail
