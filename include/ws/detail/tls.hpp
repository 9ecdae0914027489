// TLS contexts for wss:// clients and servers, with a browser's defaults, and
// the words for why a handshake failed.
// SPDX-License-Identifier: MIT
#pragma once

#include "../errors.hpp"
#include "config.hpp"

#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#if WS_TLS
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

namespace ws::detail {

#if WS_TLS
using TlsContext = std::shared_ptr<asio::ssl::context>;

/// OpenSSL's reason for the last failure on this thread's error queue.
inline std::string openssl_reason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e)
    return "unknown error";
  char text[256];
  ERR_error_string_n(e, text, sizeof text);
  return text;
}

/// Settings both roles share (Mozilla's "intermediate" profile): TLS 1.2 or
/// later, forward-secret AEAD ciphers only, no compression (CRIME).
inline void harden(asio::ssl::context &ctx) {
  SSL_CTX *native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cipher_list(native, "ECDHE-ECDSA-AES128-GCM-SHA256:"
                                  "ECDHE-RSA-AES128-GCM-SHA256:"
                                  "ECDHE-ECDSA-AES256-GCM-SHA384:"
                                  "ECDHE-RSA-AES256-GCM-SHA384:"
                                  "ECDHE-ECDSA-CHACHA20-POLY1305:"
                                  "ECDHE-RSA-CHACHA20-POLY1305");
}

/// Loads a certificate (which may carry its chain after it) and its key.
inline void use_certificate(SSL_CTX *native, const std::string &cert_file,
                            const std::string &key_file) {
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(native, cert_file.c_str()) != 1)
    throw TlsError("cannot use certificate file '" + cert_file +
                   "': " + openssl_reason());
  if (SSL_CTX_use_PrivateKey_file(native, key_file.c_str(), SSL_FILETYPE_PEM) !=
          1 ||
      SSL_CTX_check_private_key(native) != 1) {
    const std::string reason = openssl_reason();
    if (reason.find("mismatch") != std::string::npos)
      throw TlsError("key file '" + key_file +
                     "' does not match certificate file '" + cert_file + "'");
    throw TlsError("cannot use key file '" + key_file + "': " + reason);
  }
}

/// A client context trusting the system's CAs plus those in `ca_file`, and
/// showing the certificate in `cert_file` when there is one. Contexts are
/// shared: one per set of files, made once (from any thread).
inline TlsContext client_context(const std::string &ca_file,
                                 const std::string &cert_file = "",
                                 const std::string &key_file = "") {
  static std::mutex mutex;
  static std::map<std::string, TlsContext> made;
  std::lock_guard<std::mutex> lock(mutex);
  // The three names, NUL-separated (no path holds a NUL).
  const std::string key = ca_file + '\0' + cert_file + '\0' + key_file;
  if (auto it = made.find(key); it != made.end())
    return it->second;
  auto fresh =
      std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  harden(*fresh);
  asio::error_code ec;
  fresh->set_default_verify_paths(ec);
  if (!ca_file.empty() &&
      SSL_CTX_load_verify_locations(fresh->native_handle(), ca_file.c_str(),
                                    nullptr) != 1)
    throw TlsError("cannot use CA file '" + ca_file + "': " + openssl_reason());
  if (!cert_file.empty())
    use_certificate(fresh->native_handle(), cert_file, key_file);
  made.emplace(key, fresh);
  return fresh;
}

/// Node's requestCert without rejectUnauthorized: the handshake goes on
/// whatever the check says; the result is read afterwards
/// (SSL_get_verify_result) and shown in ws::Request.
inline int accept_any_client(int, X509_STORE_CTX *) { return 1; }

/// A server context from PEM files: the certificate (which may carry its
/// chain after it), its key, and an optional separate chain file; with
/// request_cert, the CAs client certificates are checked against.
inline TlsContext server_context(const std::string &cert_file,
                                 const std::string &key_file,
                                 const std::string &chain_file,
                                 bool request_cert = false,
                                 bool reject_unauthorized = true,
                                 const std::string &ca_file = "") {
  auto ctx =
      std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  harden(*ctx);
  SSL_CTX *native = ctx->native_handle();
  use_certificate(native, cert_file, key_file);
  if (request_cert) {
    if (!ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(native, ca_file.c_str(), nullptr) != 1)
        throw TlsError("cannot use CA file '" + ca_file +
                       "': " + openssl_reason());
      // Tells clients which CAs to pick a certificate for.
      SSL_CTX_set_client_CA_list(native,
                                 SSL_load_client_CA_file(ca_file.c_str()));
    }
    SSL_CTX_set_verify(native,
                       reject_unauthorized
                           ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                           : SSL_VERIFY_PEER,
                       reject_unauthorized ? nullptr : accept_any_client);
  }
  if (!chain_file.empty()) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_file(chain_file.c_str(), "r"), BIO_free);
    if (!bio)
      throw TlsError("cannot use chain file '" + chain_file +
                     "': " + openssl_reason());
    int added = 0;
    while (X509 *cert =
               PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      SSL_CTX_add0_chain_cert(native, cert); // takes ownership
      ++added;
    }
    ERR_clear_error(); // the end of the file reads as an error
    if (!added)
      throw TlsError("chain file '" + chain_file +
                     "' holds no PEM certificate");
  }
  return ctx;
}

/// What a browser checks on its side of a wss:// handshake: the chain (off
/// only when asked) and that the certificate names the host we dialled.
inline void verify_peer(SSL *ssl, const std::string &host, bool verify) {
  SSL_set_verify(ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (!verify)
    return;
  // Our URL parser keeps IPv6 hosts in brackets; certificates do not.
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[')
    bare = bare.substr(1, bare.size() - 2);
  asio::error_code ec;
  asio::ip::make_address(bare, ec);
  X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
  if (!ec) {
    X509_VERIFY_PARAM_set1_ip_asc(param, bare.c_str());
  } else {
    X509_VERIFY_PARAM_set_hostflags(param,
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, bare.c_str(), 0);
  }
}

/// Why a TLS handshake failed, in OpenSSL's words: the certificate check's
/// reason when that was it ("certificate has expired", "hostname mismatch").
inline std::string tls_failure(SSL *ssl, const std::string &handshake_error) {
  const long result = SSL_get_verify_result(ssl);
  if (result != X509_V_OK)
    return "TLS certificate verification failed: " +
           std::string(X509_verify_cert_error_string(result));
  return "TLS handshake failed: " + handshake_error;
}

/// Whether `ec` is a TLS alert in which the server refused our certificate,
/// or the want of one: asking again will not change its mind. (In TLS 1.3
/// the alert comes after our side of the handshake, on the first read.)
inline bool refused_our_certificate(const asio::error_code &ec) {
  if (!ec || ec.category() != asio::error::get_ssl_category())
    return false;
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
  case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
  case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
  case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
  case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
  case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
  case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
  case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
  case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    return true;
  default:
    return false;
  }
}

/// Turning certificate checks off is for tests; say so, once per process.
inline void warn_unverified(const std::string &url) {
  static std::once_flag once;
  std::call_once(once, [&] {
    std::cerr << "ws: WARNING: TLS certificate verification is off "
                 "(rejectUnauthorized = false) for "
              << url
              << ": anyone on the network path can read and change this "
                 "traffic."
              << std::endl;
  });
}
#endif

} // namespace ws::detail
