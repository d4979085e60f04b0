/* ca.h - the cluster's certificate authority: the CA, host and admin certificates.
 *
 * `ferry cluster init` makes the CA (a self-signed certificate, 10 years) and the admin's
 * client certificate (CN=admin); `ferry host add` issues each host's key and certificate,
 * which serves the host's API (server), its calls to peers (client) and its etcd member
 * (etcd 3.4's gateway dials its own member with the server certificate, so it needs
 * clientAuth too). Keys are ECDSA P-256, which GnuTLS and Go 1.19 (etcd 3.4) both take;
 * signatures SHA-256; serials 16 random bytes, positive. Files are PEM; a key is written
 * with mode 0600, and no file is ever written over an existing one (O_EXCL).
 */
#ifndef FERRY_CLI_CA_H
#define FERRY_CLI_CA_H

#include <stddef.h>

#include "common/err.h"
#include "common/pki.h"

enum {
	CA_SERVER = 1 << 0, /* TLS server (serverAuth) */
	CA_CLIENT = 1 << 1, /* TLS client (clientAuth) */
};

struct ca_subject {
	const char *cn;	 /* common name: the host's name, "admin" */
	const char *ip;	 /* an IPv4 or IPv6 address for the SAN, or NULL */
	const char *dns; /* a DNS name for the SAN, or NULL */
	int usage;	 /* CA_SERVER | CA_CLIENT */
};

/* A new CA named cn: its key to key_path (0600), its certificate to cert_path. */
int ca_create(const char *cn, const char *cert_path, const char *key_path, struct err *e);
/* A new key (key_path, 0600) and a certificate for s signed by the CA in ca_cert/ca_key.
 * info (or NULL) gets the new certificate's serial and CN. */
int ca_issue(const char *ca_cert, const char *ca_key, const struct ca_subject *s,
	     const char *cert_path, const char *key_path, struct pki_info *info, struct err *e);
/* Does the certificate at cert_path chain to the CA at ca_path, now? */
int ca_verify_file(const char *ca_path, const char *cert_path, struct err *e);
/* n random bytes (at most 64) as 2n lower-case hex digits into out (2n + 1 bytes). */
int ca_random_hex(char *out, size_t n, struct err *e);

#endif
