// A throw-away certificate authority, made when a test starts, so no private
// key is ever committed. Every file lives in a fresh temporary folder that is
// removed at exit.
// SPDX-License-Identifier: MIT
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace test {

class TestCa {
public:
  std::string dir;
  std::string ca;            // the CA certificate clients are told to trust
  std::string key;           // the key of every server certificate below
  std::string server;        // CN localhost; names localhost, 127.0.0.1, ::1
  std::string expired;       // as server, but expired yesterday
  std::string wrong_host;    // names only example.com
  std::string self_signed;   // names localhost; signed by itself
  std::string leaf_of_inter; // signed by the intermediate below
  std::string intermediate;  // a CA under ca, for chainFile tests
  std::string key_of_other;  // a key that matches none of them
  std::string client;        // CN ann, for TLS client authentication
  std::string client_self;   // CN mallory, signed by itself

  TestCa() {
    char tmpl[] = "/tmp/ws-tls-XXXXXX";
    if (!mkdtemp(tmpl))
      throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    EVP_PKEY *ca_key = new_key();
    X509 *ca_cert =
        make("ws test CA", ca_key, ca_key, nullptr, true, {}, 0, 30);
    EVP_PKEY *server_key = new_key();
    const std::vector<std::string> names = {"DNS:localhost", "IP:127.0.0.1",
                                            "IP:::1"};
    ca = write_cert("ca.pem", ca_cert);
    key = write_key("server.key", server_key);
    server = write_cert("server.pem", make("localhost", server_key, ca_key,
                                           ca_cert, false, names, 0, 30));
    expired = write_cert("expired.pem", make("localhost", server_key, ca_key,
                                             ca_cert, false, names, -30, -1));
    wrong_host = write_cert("wrong_host.pem",
                            make("example.com", server_key, ca_key, ca_cert,
                                 false, {"DNS:example.com"}, 0, 30));
    self_signed =
        write_cert("self_signed.pem", make("localhost", server_key, server_key,
                                           nullptr, false, names, 0, 30));
    EVP_PKEY *inter_key = new_key();
    X509 *inter = make("ws test intermediate", inter_key, ca_key, ca_cert, true,
                       {}, 0, 30);
    intermediate = write_cert("intermediate.pem", inter);
    leaf_of_inter =
        write_cert("leaf_of_inter.pem", make("localhost", server_key, inter_key,
                                             inter, false, names, 0, 30));
    EVP_PKEY *other = new_key();
    key_of_other = write_key("other.key", other);
    client = write_cert("client.pem", make("ann", server_key, ca_key, ca_cert,
                                           false, {}, 0, 30, "clientAuth"));
    client_self = write_cert("client_self.pem",
                             make("mallory", server_key, server_key, nullptr,
                                  false, {}, 0, 30, "clientAuth"));
    for (EVP_PKEY *k : {ca_key, server_key, inter_key, other})
      EVP_PKEY_free(k);
  }
  ~TestCa() {
    for (X509 *c : certs_)
      X509_free(c);
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  TestCa(const TestCa &) = delete;
  TestCa &operator=(const TestCa &) = delete;

private:
  std::vector<X509 *> certs_; // freed with the object

  static EVP_PKEY *new_key() {
    EVP_PKEY *k = EVP_EC_gen("P-256"); // quick to make, and every peer takes it
    if (!k)
      throw std::runtime_error("EVP_EC_gen failed");
    return k;
  }

  static void extend(X509 *cert, X509 *issuer, int nid,
                     const std::string &value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext)
      throw std::runtime_error("bad extension " + value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  // A certificate for `key`, valid from `from_days` to `to_days` from now,
  // signed by issuer_key (issuer == nullptr: by itself).
  X509 *make(const std::string &cn, EVP_PKEY *key, EVP_PKEY *issuer_key,
             X509 *issuer, bool is_ca, const std::vector<std::string> &names,
             long from_days, long to_days, const char *usage = "serverAuth") {
    static long serial = 1;
    X509 *cert = X509_new();
    certs_.push_back(cert);
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert), from_days * 86400 - 3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), to_days * 86400);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(
        name, "CN", MBSTRING_ASC,
        reinterpret_cast<const unsigned char *>(cn.c_str()), -1, -1, 0);
    X509 *signer = issuer ? issuer : cert;
    X509_set_issuer_name(cert, X509_get_subject_name(signer));
    extend(cert, signer, NID_basic_constraints,
           is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    extend(cert, signer, NID_key_usage,
           is_ca ? "critical,keyCertSign,cRLSign"
                 : "critical,digitalSignature");
    extend(cert, signer, NID_subject_key_identifier, "hash");
    if (issuer)
      extend(cert, signer, NID_authority_key_identifier, "keyid:always");
    if (!is_ca)
      extend(cert, signer, NID_ext_key_usage, usage);
    std::string alt;
    for (const auto &n : names)
      alt += (alt.empty() ? "" : ",") + n;
    if (!alt.empty())
      extend(cert, signer, NID_subject_alt_name, alt);
    if (!X509_sign(cert, issuer_key, EVP_sha256()))
      throw std::runtime_error("X509_sign failed");
    return cert;
  }

  std::string write_cert(const std::string &name, X509 *cert) {
    const std::string path = dir + "/" + name;
    FILE *f = std::fopen(path.c_str(), "w");
    if (!f || !PEM_write_X509(f, cert))
      throw std::runtime_error("cannot write " + path);
    std::fclose(f);
    return path;
  }

  std::string write_key(const std::string &name, EVP_PKEY *k) {
    const std::string path = dir + "/" + name;
    FILE *f = std::fopen(path.c_str(), "w");
    if (!f ||
        !PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr))
      throw std::runtime_error("cannot write " + path);
    std::fclose(f);
    return path;
  }
};

} // namespace test
