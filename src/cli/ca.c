/* ca.c - the cluster's certificate authority (ca.h), on GnuTLS's x509 API.
 *
 * One function makes a certificate (ca_make): a fresh ECDSA P-256 key, a v3 certificate
 * with a random serial, the subject's CN, the SANs, the key usages and key ids, signed
 * with SHA-256 by the issuer (itself for the CA). ca_create and ca_issue only choose its
 * extensions and the issuer. Validity starts an hour back, so a host whose clock is a little
 * behind the one that issued still accepts it, and lasts 10 years: the lab and small clusters
 * never renew, and revocation (in etcd, by the agent) is how a certificate is withdrawn.
 *
 * Files are written new (O_EXCL), the key with mode 0600 whatever the umask; if the
 * certificate cannot be written after its key was, the key is removed again, so a failed
 * call leaves nothing behind.
 */
#include "cli/ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CA_DAYS (10 * 365 + 3)
#define CA_SERIAL_BYTES 16

int ca_random_hex(char *out, size_t n, struct err *e)
{
	unsigned char b[64];
	int r;

	if (n > sizeof(b))
		return err_set(e, "at most %zu random bytes", sizeof(b));
	r = gnutls_rnd(GNUTLS_RND_KEY, b, n);
	if (r < 0)
		return err_set(e, "random bytes: %s", gnutls_strerror(r));
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	out[2 * n] = '\0';
	gnutls_memset(b, 0, sizeof(b));
	return 0;
}

/* Write a new file of mode `mode` (not over an existing one). */
static int ca_write_new(const char *path, const gnutls_datum_t *d, mode_t mode, struct err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd < 0)
		return err_errno(e, "%s", path);
	if (fchmod(fd, mode) < 0 || write(fd, d->data, d->size) != (ssize_t)d->size ||
	    fsync(fd) < 0) {
		err_errno(e, "%s: write", path);
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) < 0) {
		err_errno(e, "%s: close", path);
		unlink(path);
		return -1;
	}
	return 0;
}

static int ca_gnutls(int r, struct err *e, const char *what)
{
	if (r < 0)
		return err_set(e, "%s: %s", what, gnutls_strerror(r));
	return 0;
}

/* The SAN of an address: binary for an IP literal, else a DNS name. */
static int ca_san_ip(gnutls_x509_crt_t crt, const char *ip, struct err *e)
{
	unsigned char a[16];
	unsigned len;

	if (inet_pton(AF_INET, ip, a) == 1)
		len = 4;
	else if (inet_pton(AF_INET6, ip, a) == 1)
		len = 16;
	else
		return ca_gnutls(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, ip,
								      (unsigned)strlen(ip),
								      GNUTLS_FSAN_APPEND),
				 e, "subject alternative name");
	return ca_gnutls(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, a, len,
							      GNUTLS_FSAN_APPEND),
			 e, "subject alternative name");
}

/* Make a key and a certificate for s (a CA if is_ca), signed by issuer/issuer_key (itself if
 * NULL); export both in PEM. */
static int ca_make(const struct ca_subject *s, bool is_ca, gnutls_x509_crt_t issuer,
		   gnutls_x509_privkey_t issuer_key, gnutls_datum_t *cert_pem,
		   gnutls_datum_t *key_pem, struct pki_info *info, struct err *e)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_privkey_t signer = NULL;
	unsigned char serial[CA_SERIAL_BYTES], id[64];
	size_t idlen;
	time_t now = time(NULL);
	int rc = -1;

	cert_pem->data = key_pem->data = NULL;
	if (ca_gnutls(gnutls_x509_privkey_init(&key), e, "key") < 0 ||
	    ca_gnutls(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
						   GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
						   0),
		      e, "generating an ECDSA P-256 key") < 0 ||
	    ca_gnutls(gnutls_x509_crt_init(&crt), e, "certificate") < 0)
		goto out;
	if (ca_gnutls(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)), e, "serial") < 0)
		goto out;
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40); /* positive, 16 bytes long */
	if (ca_gnutls(gnutls_x509_crt_set_version(crt, 3), e, "version") < 0 ||
	    ca_gnutls(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), e, "serial") < 0 ||
	    ca_gnutls(gnutls_x509_crt_set_activation_time(crt, now - 3600), e, "validity") < 0 ||
	    ca_gnutls(gnutls_x509_crt_set_expiration_time(crt, now + (time_t)CA_DAYS * 86400), e,
		      "validity") < 0 ||
	    ca_gnutls(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
						    "ferry", 5),
		      e, "subject") < 0 ||
	    ca_gnutls(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, s->cn,
						    (unsigned)strlen(s->cn)),
		      e, "subject CN") < 0 ||
	    ca_gnutls(gnutls_x509_crt_set_key(crt, key), e, "certificate key") < 0)
		goto out;
	if (is_ca) {
		if (ca_gnutls(gnutls_x509_crt_set_basic_constraints(crt, 1, 0), e, "CA") < 0 ||
		    ca_gnutls(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN |
								     GNUTLS_KEY_CRL_SIGN |
								     GNUTLS_KEY_DIGITAL_SIGNATURE),
			      e, "key usage") < 0)
			goto out;
	} else {
		if (ca_gnutls(gnutls_x509_crt_set_basic_constraints(crt, 0, -1), e, "CA") < 0 ||
		    ca_gnutls(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE), e,
			      "key usage") < 0)
			goto out;
		if ((s->usage & CA_SERVER) &&
		    ca_gnutls(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0),
			      e, "key purpose") < 0)
			goto out;
		if ((s->usage & CA_CLIENT) &&
		    ca_gnutls(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0),
			      e, "key purpose") < 0)
			goto out;
		if (s->dns && ca_gnutls(gnutls_x509_crt_set_subject_alt_name(
					    crt, GNUTLS_SAN_DNSNAME, s->dns,
					    (unsigned)strlen(s->dns), GNUTLS_FSAN_APPEND),
					e, "subject alternative name") < 0)
			goto out;
		if (s->ip && ca_san_ip(crt, s->ip, e) < 0)
			goto out;
	}
	idlen = sizeof(id);
	if (ca_gnutls(gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, id, &idlen), e,
		      "key id") < 0 ||
	    ca_gnutls(gnutls_x509_crt_set_subject_key_id(crt, id, idlen), e, "key id") < 0)
		goto out;
	if (!is_ca) {
		unsigned critical;

		idlen = sizeof(id);
		if (ca_gnutls(gnutls_x509_crt_get_subject_key_id(issuer, id, &idlen, &critical), e,
			      "the CA's key id") < 0 ||
		    ca_gnutls(gnutls_x509_crt_set_authority_key_id(crt, id, idlen), e,
			      "authority key id") < 0)
			goto out;
	}
	if (ca_gnutls(gnutls_privkey_init(&signer), e, "signer") < 0 ||
	    ca_gnutls(gnutls_privkey_import_x509(signer, is_ca ? key : issuer_key, 0), e,
		      "signer") < 0 ||
	    ca_gnutls(gnutls_x509_crt_privkey_sign(crt, is_ca ? crt : issuer, signer,
						   GNUTLS_DIG_SHA256, 0),
		      e, "signing") < 0)
		goto out;
	if (ca_gnutls(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, cert_pem), e,
		      "certificate export") < 0 ||
	    ca_gnutls(gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
							GNUTLS_PKCS_PLAIN, key_pem),
		      e, "key export") < 0)
		goto out;
	if (info && pki_info_crt(crt, info, e) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		gnutls_free(cert_pem->data);
		gnutls_free(key_pem->data);
		cert_pem->data = key_pem->data = NULL;
	}
	if (signer)
		gnutls_privkey_deinit(signer);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return rc;
}

/* Write the key (0600) then the certificate (0644); neither is left if either fails. */
static int ca_write_pair(gnutls_datum_t *cert_pem, gnutls_datum_t *key_pem, const char *cert_path,
			 const char *key_path, struct err *e)
{
	int rc = -1;

	if (access(cert_path, F_OK) == 0) {
		err_set(e, "%s exists already", cert_path);
	} else if (ca_write_new(key_path, key_pem, 0600, e) == 0) {
		if (ca_write_new(cert_path, cert_pem, 0644, e) == 0)
			rc = 0;
		else
			unlink(key_path);
	}
	gnutls_memset(key_pem->data, 0, key_pem->size);
	gnutls_free(key_pem->data);
	gnutls_free(cert_pem->data);
	return rc;
}

int ca_create(const char *cn, const char *cert_path, const char *key_path, struct err *e)
{
	struct ca_subject s = { .cn = cn };
	gnutls_datum_t c, k;

	if (ca_make(&s, true, NULL, NULL, &c, &k, NULL, e) < 0)
		return -1;
	return ca_write_pair(&c, &k, cert_path, key_path, e);
}

/* Load the CA's certificate and key. */
static int ca_load(const char *ca_cert, const char *ca_key, gnutls_x509_crt_t *crt,
		   gnutls_x509_privkey_t *key, struct err *e)
{
	gnutls_datum_t d;
	int r;

	*crt = NULL;
	*key = NULL;
	r = gnutls_load_file(ca_cert, &d);
	if (r < 0)
		return err_set(e, "%s: %s", ca_cert, gnutls_strerror(r));
	r = gnutls_x509_crt_init(crt);
	if (r >= 0)
		r = gnutls_x509_crt_import(*crt, &d, GNUTLS_X509_FMT_PEM);
	gnutls_free(d.data);
	if (r < 0) {
		err_set(e, "%s: %s", ca_cert, gnutls_strerror(r));
		goto fail;
	}
	r = gnutls_load_file(ca_key, &d);
	if (r < 0) {
		err_set(e, "%s: %s", ca_key, gnutls_strerror(r));
		goto fail;
	}
	r = gnutls_x509_privkey_init(key);
	if (r >= 0)
		r = gnutls_x509_privkey_import2(*key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_memset(d.data, 0, d.size);
	gnutls_free(d.data);
	if (r < 0) {
		err_set(e, "%s: %s", ca_key, gnutls_strerror(r));
		goto fail;
	}
	return 0;
fail:
	if (*crt)
		gnutls_x509_crt_deinit(*crt);
	if (*key)
		gnutls_x509_privkey_deinit(*key);
	*crt = NULL;
	*key = NULL;
	return -1;
}

int ca_issue(const char *ca_cert, const char *ca_key, const struct ca_subject *s,
	     const char *cert_path, const char *key_path, struct pki_info *info, struct err *e)
{
	gnutls_x509_crt_t issuer;
	gnutls_x509_privkey_t issuer_key;
	gnutls_datum_t c, k;
	int rc;

	if (!s->cn || !*s->cn || !s->usage)
		return err_set(e, "a certificate needs a CN and a usage");
	if (ca_load(ca_cert, ca_key, &issuer, &issuer_key, e) < 0)
		return -1;
	rc = ca_make(s, false, issuer, issuer_key, &c, &k, info, e);
	gnutls_x509_crt_deinit(issuer);
	gnutls_x509_privkey_deinit(issuer_key);
	if (rc < 0)
		return -1;
	return ca_write_pair(&c, &k, cert_path, key_path, e);
}

static int ca_load_crt(const char *path, gnutls_x509_crt_t *crt, struct err *e)
{
	gnutls_datum_t d;
	int r = gnutls_load_file(path, &d);

	if (r < 0)
		return err_set(e, "%s: %s", path, gnutls_strerror(r));
	r = gnutls_x509_crt_init(crt);
	if (r >= 0) {
		r = gnutls_x509_crt_import(*crt, &d, GNUTLS_X509_FMT_PEM);
		if (r < 0)
			gnutls_x509_crt_deinit(*crt);
	}
	gnutls_free(d.data);
	if (r < 0)
		return err_set(e, "%s: %s", path, gnutls_strerror(r));
	return 0;
}

int ca_verify_file(const char *ca_path, const char *cert_path, struct err *e)
{
	gnutls_x509_crt_t ca, crt;
	unsigned status = 0;
	int r;

	if (ca_load_crt(ca_path, &ca, e) < 0)
		return -1;
	if (ca_load_crt(cert_path, &crt, e) < 0) {
		gnutls_x509_crt_deinit(ca);
		return -1;
	}
	r = gnutls_x509_crt_verify(crt, &ca, 1, 0, &status);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
	if (r < 0)
		return err_set(e, "%s: %s", cert_path, gnutls_strerror(r));
	if (status) {
		gnutls_datum_t out;

		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out,
								 0) >= 0) {
			err_set(e, "%s: %s", cert_path, out.data);
			gnutls_free(out.data);
		} else {
			err_set(e, "%s: not issued by %s", cert_path, ca_path);
		}
		return -1;
	}
	return 0;
}
