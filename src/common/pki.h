/* pki.h - what a program reads of a cluster certificate: its serial, its CN, its issuer's CN.
 *
 * The cluster's certificates are made by `ferry` (src/cli/ca.h: the CA, host and admin
 * certificates); the agent needs to read a peer's certificate, the serial to check it
 * against the revoked ones in etcd and the CN to know which host or user calls. These
 * helpers are header-only (static inline) on purpose: src/common is linked into every
 * program, and only the agent and the CLI link GnuTLS; a program that never includes this
 * header needs no -lgnutls.
 *
 * The serial is written in lower-case hex without separators, as `certtool -i` shows it
 * without the colons; the CN is the subject's first commonName.
 */
#ifndef FERRY_PKI_H
#define FERRY_PKI_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define PKI_SERIAL_MAX 41 /* up to 20 bytes in hex and a NUL */
#define PKI_CN_MAX 65

struct pki_info {
	char serial[PKI_SERIAL_MAX];
	char cn[PKI_CN_MAX];
	char issuer_cn[PKI_CN_MAX];
};

/* The serial and names of a certificate already imported. */
static inline int pki_info_crt(gnutls_x509_crt_t crt, struct pki_info *info, struct err *e)
{
	unsigned char serial[64];
	size_t n = sizeof(serial), len;
	int r;

	memset(info, 0, sizeof(*info));
	r = gnutls_x509_crt_get_serial(crt, serial, &n);
	if (r < 0)
		return err_set(e, "certificate serial: %s", gnutls_strerror(r));
	if (n > (PKI_SERIAL_MAX - 1) / 2)
		return err_set(e, "certificate serial of %zu bytes: more than 20", n);
	for (size_t i = 0; i < n; i++)
		snprintf(info->serial + 2 * i, 3, "%02x", serial[i]);
	len = sizeof(info->cn);
	r = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, info->cn, &len);
	if (r < 0 && r != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return err_set(e, "certificate CN: %s", gnutls_strerror(r));
	len = sizeof(info->issuer_cn);
	r = gnutls_x509_crt_get_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
						 info->issuer_cn, &len);
	if (r < 0 && r != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return err_set(e, "certificate issuer CN: %s", gnutls_strerror(r));
	return 0;
}

/* The serial and names of a certificate in PEM (len bytes) or, if der, in DER. */
static inline int pki_info_mem(const void *data, size_t len, int der, struct pki_info *info,
			       struct err *e)
{
	gnutls_datum_t d = { (unsigned char *)data, (unsigned)len };
	gnutls_x509_crt_t crt;
	int r;

	if (gnutls_x509_crt_init(&crt) < 0)
		return err_set(e, "out of memory");
	r = gnutls_x509_crt_import(crt, &d, der ? GNUTLS_X509_FMT_DER : GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		gnutls_x509_crt_deinit(crt);
		return err_set(e, "not a certificate: %s", gnutls_strerror(r));
	}
	r = pki_info_crt(crt, info, e);
	gnutls_x509_crt_deinit(crt);
	return r;
}

/* The same from a PEM file. */
static inline int pki_info_file(const char *path, struct pki_info *info, struct err *e)
{
	gnutls_datum_t d;
	int r = gnutls_load_file(path, &d);

	if (r < 0)
		return err_set(e, "%s: %s", path, gnutls_strerror(r));
	r = pki_info_mem(d.data, d.size, 0, info, e);
	gnutls_free(d.data);
	return r < 0 ? err_prefix(e, "%s", path) : 0;
}

#endif
