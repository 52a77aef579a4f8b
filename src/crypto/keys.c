/* SPDX-License-Identifier: Apache-2.0 */
/* crypto/keys.c: signing keys and certificates: loading, checking, generating, rollover. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "crypto/internal.h"

#define KEY_SUFFIX   ".key.pem"
#define CERT_SUFFIX  ".crt.pem"
#define STATE_SUFFIX ".state"
#define ID_MAX       64
#define CN_MAX       64 /* RFC 5280 ub-common-name */
#define AUTO_BITS    2048
#define AUTO_DAYS    3650

/* ---- reading ------------------------------------------------------------ */

struct pass_ctx {
	const char *pass;
	int asked;
};

/* OpenSSL's passphrase callback: never prompts on a terminal. */
static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass_ctx *pc = u;
	size_t n;

	pc->asked = 1;
	if (pc->pass == NULL)
		return -1;
	n = strlen(pc->pass);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, pc->pass, n);
	return (int)n;
}

static enum fb_status
open_read(const char *path, const char *what, FILE **out, struct fb_err *err)
{
	*out = fopen(path, "re");
	if (*out == NULL)
		return fb_err_set(err, FB_ERR_IO, "%s %s: %s", what, path, strerror(errno));
	return FB_OK;
}

static enum fb_status
read_pkey(const char *path, const char *pass, EVP_PKEY **out, struct fb_err *err)
{
	struct pass_ctx pc = {pass, 0};
	struct stat st;
	FILE *f = NULL;
	enum fb_status r;

	*out = NULL;
	if ((r = open_read(path, "key file", &f, err)) != FB_OK)
		goto out;
	/* SECURITY: a private key that others can read is no longer private. */
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
		fb_log(FB_LOG_WARN,
		    "key file %s is readable by group or others (mode %04o): chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
	ERR_clear_error();
	*out = PEM_read_PrivateKey(f, NULL, pass_cb, &pc);
	if (*out == NULL) {
		if (pc.asked && pass == NULL) {
			ERR_clear_error();
			r = fb_err_set(err, FB_ERR_CONFIG,
			    "key file %s: the key is encrypted and no passphrase is configured",
			    path);
		} else if (pc.asked)
			r = fb_err_openssl(err, FB_ERR_CONFIG, "key file %s: wrong passphrase",
			    path);
		else
			r = fb_err_openssl(err, FB_ERR_CONFIG, "key file %s: not a PEM private key",
			    path);
		goto out;
	}
	r = FB_OK;
out:
	if (f != NULL)
		fclose(f);
	return r;
}

static enum fb_status
read_cert(const char *path, X509 **out, struct fb_err *err)
{
	struct pass_ctx pc = {NULL, 0};
	FILE *f = NULL;
	enum fb_status r;

	*out = NULL;
	if ((r = open_read(path, "certificate", &f, err)) != FB_OK)
		goto out;
	ERR_clear_error();
	*out = PEM_read_X509(f, NULL, pass_cb, &pc);
	if (*out == NULL) {
		r = fb_err_openssl(err, FB_ERR_CONFIG,
		    "certificate %s: not a PEM X.509 certificate", path);
		goto out;
	}
	r = FB_OK;
out:
	if (f != NULL)
		fclose(f);
	return r;
}

static const char *const state_words[] = {"active", "published", "retired"};

const char *
fb_crypto_key_state_name(enum fb_conf_key_state state)
{
	return (size_t)state < sizeof(state_words) / sizeof(*state_words) ? state_words[state]
									    : "?";
}

/* Reads a state file: one word, "active", "published" or "retired". */
static enum fb_status
read_state(const char *path, enum fb_conf_key_state *out, struct fb_err *err)
{
	char buf[64];
	ssize_t n;
	int fd;

	*out = FB_KEY_PUBLISHED;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fb_err_set(err, FB_ERR_IO, "state file %s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		int e = errno;

		close(fd);
		return fb_err_set(err, FB_ERR_IO, "state file %s: %s", path, strerror(e));
	}
	close(fd);
	buf[n] = '\0';
	buf[strcspn(buf, " \t\r\n")] = '\0';
	for (size_t i = 0; i < sizeof(state_words) / sizeof(*state_words); i++)
		if (strcmp(buf, state_words[i]) == 0) {
			*out = (enum fb_conf_key_state)i;
			return FB_OK;
		}
	return fb_err_set(err, FB_ERR_CONFIG,
	    "state file %s: '%.32s' is not a key state (active, published or retired)", path, buf);
}

/* ---- checks ------------------------------------------------------------- */

static enum fb_status
key_check(struct fb_key *k, struct fb_err *err)
{
	const ASN1_TIME *na;
	char group[64], when[32];
	size_t glen = 0;
	struct tm tm;

	k->bits = EVP_PKEY_get_bits(k->pkey);
	if (EVP_PKEY_is_a(k->pkey, "RSA")) {
		k->alg = "RSA";
		/* SECURITY: RSA under 2048 bits is too weak (NIST SP 800-131A). */
		if (k->bits < 2048)
			return fb_err_set(err, FB_ERR_CONFIG,
			    "key file %s: RSA key of %d bits is too small (2048 at least)",
			    k->key_file, k->bits);
	} else if (EVP_PKEY_is_a(k->pkey, "EC")) {
		k->alg = "EC";
		if (EVP_PKEY_get_group_name(k->pkey, group, sizeof(group), &glen) != 1)
			return fb_err_openssl(err, FB_ERR_CONFIG,
			    "key file %s: EC key without a named curve", k->key_file);
		/* SECURITY: only the curves of ES256/ES384 that every peer verifies. */
		if (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0)
			return fb_err_set(err, FB_ERR_CONFIG,
			    "key file %s: EC curve %s is not supported (P-256 or P-384)",
			    k->key_file, group);
	} else {
		return fb_err_set(err, FB_ERR_CONFIG,
		    "key file %s: %s keys are not supported (RSA or EC)", k->key_file,
		    EVP_PKEY_get0_type_name(k->pkey));
	}
	/* SECURITY: a certificate of another key would publish the wrong public key. */
	if (X509_check_private_key(k->cert, k->pkey) != 1)
		return fb_err_openssl(err, FB_ERR_CONFIG,
		    "certificate %s does not match the private key %s", k->cert_file, k->key_file);
	if (ASN1_TIME_to_tm(X509_get0_notBefore(k->cert), &tm) != 1)
		return fb_err_openssl(err, FB_ERR_CONFIG, "certificate %s: unreadable start date",
		    k->cert_file);
	k->not_before = (int64_t)timegm(&tm);
	na = X509_get0_notAfter(k->cert);
	if (ASN1_TIME_to_tm(na, &tm) != 1)
		return fb_err_openssl(err, FB_ERR_CONFIG, "certificate %s: unreadable expiry date",
		    k->cert_file);
	k->not_after = (int64_t)timegm(&tm);
	if (k->not_after <= fb_time_now()) {
		fb_time_format(k->not_after, -1, when, sizeof(when));
		fb_log(FB_LOG_WARN,
		    "certificate %s of key %s expired on %s: peers that check expiry will refuse "
		    "it",
		    k->cert_file, k->id, when);
	}
	return FB_OK;
}

static void
key_cleanup(struct fb_key *k)
{
	free(k->id);
	free(k->key_file);
	free(k->cert_file);
	EVP_PKEY_free(k->pkey);
	X509_free(k->cert);
	memset(k, 0, sizeof(*k));
}

/* Loads and checks one key into k (zeroed); the caller cleans k up either way. */
static enum fb_status
key_load(const char *id, const char *key_file, const char *cert_file, const char *pass,
    enum fb_conf_key_state state, struct fb_key *k, struct fb_err *err)
{
	enum fb_status r;

	k->id = fb_xstrdup(id);
	k->key_file = fb_xstrdup(key_file);
	k->cert_file = fb_xstrdup(cert_file);
	k->state = state;
	if ((r = read_pkey(key_file, pass, &k->pkey, err)) != FB_OK)
		return r;
	if ((r = read_cert(cert_file, &k->cert, err)) != FB_OK)
		return r;
	return key_check(k, err);
}

static struct fb_key *
keyring_add(struct fb_keyring *kr)
{
	kr->keys = fb_xrealloc(kr->keys, (kr->n + 1) * sizeof(*kr->keys));
	memset(&kr->keys[kr->n], 0, sizeof(*kr->keys));
	return &kr->keys[kr->n++];
}

/* Unique ids and exactly one active key; where names the source in messages. */
static enum fb_status
keyring_check(const struct fb_keyring *kr, const char *where, struct fb_err *err)
{
	struct fb_buf ids;
	size_t i, j, nactive = 0;
	enum fb_status r;

	for (i = 0; i < kr->n; i++)
		for (j = i + 1; j < kr->n; j++)
			if (strcmp(kr->keys[i].id, kr->keys[j].id) == 0)
				return fb_err_set(err, FB_ERR_CONFIG,
				    "%s: key id '%s' is used twice", where, kr->keys[i].id);
	fb_buf_init(&ids, 400);
	for (i = 0; i < kr->n; i++) {
		if (kr->keys[i].state != FB_KEY_ACTIVE)
			continue;
		fb_buf_addf(&ids, NULL, "%s%s", nactive > 0 ? ", " : "", kr->keys[i].id);
		nactive++;
	}
	/* SECURITY: signing must be unambiguous: one key signs, the others only verify. */
	if (nactive == 0)
		r = fb_err_set(err, FB_ERR_CONFIG, "%s: no key is active (exactly one must be)",
		    where);
	else if (nactive > 1)
		r = fb_err_set(err, FB_ERR_CONFIG,
		    "%s: %zu keys are active (%s): exactly one may be", where, nactive, ids.data);
	else
		r = FB_OK;
	fb_buf_cleanup(&ids);
	return r;
}

/* ---- the keys directory ------------------------------------------------- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
ids_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* The ids of the <id>.key.pem files of dir, sorted; none when dir does not exist. */
static enum fb_status
dir_ids(const char *dir, char ***out, size_t *nout, struct fb_err *err)
{
	size_t sl = strlen(KEY_SUFFIX), n = 0, len;
	struct dirent *de;
	char **ids = NULL;
	DIR *d;

	*out = NULL;
	*nout = 0;
	d = opendir(dir);
	if (d == NULL) {
		if (errno == ENOENT)
			return FB_OK;
		return fb_err_set(err, FB_ERR_IO, "keys directory %s: %s", dir, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= sl ||
		    strcmp(de->d_name + len - sl, KEY_SUFFIX) != 0)
			continue;
		ids = fb_xrealloc(ids, (n + 1) * sizeof(*ids));
		ids[n++] = fb_xstrndup(de->d_name, len - sl);
	}
	closedir(d);
	if (n > 0)
		qsort(ids, n, sizeof(*ids), cmp_str);
	*out = ids;
	*nout = n;
	return FB_OK;
}

static enum fb_status
ensure_dir(const char *path, struct fb_err *err)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return FB_OK;
	if (errno != EEXIST)
		return fb_err_set(err, FB_ERR_IO, "cannot create directory %s: %s", path,
		    strerror(errno));
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return fb_err_set(err, FB_ERR_IO, "%s exists and is not a directory", path);
	return FB_OK;
}

char *
fb_crypto_key_cn(const struct fb_conf *conf)
{
	const char *url = conf->public_url, *h, *e;

	if (url == NULL || (h = strstr(url, "://")) == NULL)
		return fb_xstrdup("fedbroker");
	h += 3;
	if (*h == '[') {
		h++;
		e = strchr(h, ']');
	} else {
		e = h + strcspn(h, ":/?#");
	}
	if (e == NULL || e == h || e - h > CN_MAX)
		return fb_xstrdup("fedbroker");
	return fb_xstrndup(h, (size_t)(e - h));
}

/* What keyring_load does beyond loading the keys in use. */
#define KR_GENERATE 0x1u /* generate a key when there is none */
#define KR_RETIRED  0x2u /* load retired keys too (for listing them) */

/*
 * Takes <state_dir>/keys.lock (exclusive, waits): processes sharing a state
 * directory (replicas on one machine, starting together) list and generate
 * its keys one at a time, so they all find the one key the first one made.
 * The descriptor in *fd (-1 when none; closing it releases the lock).
 */
static enum fb_status
generate_lock(const struct fb_conf *conf, int *fd, struct fb_err *err)
{
	char *path;
	enum fb_status r;

	*fd = -1;
	if ((r = ensure_dir(conf->state_dir, err)) != FB_OK)
		return r;
	path = fb_xasprintf("%s/keys.lock", conf->state_dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0)
		r = fb_err_set(err, FB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	else if (flock(*fd, LOCK_EX) != 0)
		r = fb_err_set(err, FB_ERR_IO, "cannot lock %s: %s", path, strerror(errno));
	free(path);
	return r;
}

/* 1 when kr holds an EC P-256 key (what ES256 signs with). */
static int
keyring_has_p256(const struct fb_keyring *kr)
{
	for (size_t i = 0; i < kr->n; i++)
		if (strcmp(kr->keys[i].alg, "EC") == 0 && kr->keys[i].bits == 256)
			return 1;
	return 0;
}

/*
 * The generated keyring (no keys: in the configuration) holds an EC P-256
 * key next to the RSA one, so ES256, the OpenID provider's default, works
 * out of the box; a state directory of an older version gains one on its
 * next start. ids (n, sorted) are dir's key ids, kr the keys loaded; the
 * new key is added to kr.
 *
 * The key is published, not active: the active key stays the RSA one that
 * SAML peers have pinned (their metadata names it), so nothing changes for
 * them. The provider signs ES256 tokens with it at once (op.c: a published
 * key signs when the active one has the wrong type). That skips the
 * min_publish_time wait of a rollover, on purpose: the wait exists so
 * relying parties have fetched a key before tokens signed by it arrive, and
 * no relying party can hold ES256 tokens or an ES256 key of ours yet (a
 * client with signing_alg ES256 was refused without an EC key), while every
 * OpenID relying party fetches the JWKS again on a kid it does not know.
 * Retiring the key makes the next start generate another: to sign without
 * EC, list the keys in keys:.
 */
static enum fb_status
ec_ensure(const struct fb_conf *conf, const char *dir, char *const *ids, size_t n,
    struct fb_keyring *kr, struct fb_err *err)
{
	char *id = NULL, *cn = NULL, *kp = NULL, *cp = NULL;
	enum fb_status r = FB_OK;
	size_t i;

	if (keyring_has_p256(kr))
		return FB_OK;
	/* Key ids are random within a day: never reuse one (the files are created O_EXCL). */
	do {
		free(id);
		id = fb_crypto_key_id_new();
		for (i = 0; i < n && strcmp(ids[i], id) != 0; i++)
			;
	} while (i < n);
	cn = fb_crypto_key_cn(conf);
	if ((r = fb_crypto_key_generate(dir, id, "ec", 256, AUTO_DAYS, cn, FB_KEY_PUBLISHED,
	         err)) != FB_OK)
		goto out;
	kp = fb_xasprintf("%s/%s%s", dir, id, KEY_SUFFIX);
	cp = fb_xasprintf("%s/%s%s", dir, id, CERT_SUFFIX);
	fb_log(FB_LOG_INFO,
	    "generated signing key %s (EC P-256, published: signs ES256 tokens): %s", id, kp);
	r = key_load(id, kp, cp, NULL, FB_KEY_PUBLISHED, keyring_add(kr), err);
out:
	free(id);
	free(cn);
	free(kp);
	free(cp);
	return r;
}

static enum fb_status
load_dir(const struct fb_conf *conf, const char *dir, unsigned flags, struct fb_keyring *kr,
    struct fb_err *err)
{
	char **ids = NULL, *kp = NULL, *cp = NULL, *sp = NULL, *cn = NULL, *id = NULL;
	enum fb_conf_key_state state;
	size_t n = 0, i;
	enum fb_status r;
	int lock = -1;

	if ((flags & KR_GENERATE) != 0 && conf->store_driver != FB_STORE_POSTGRES &&
	    (r = generate_lock(conf, &lock, err)) != FB_OK)
		goto out;
	if ((r = dir_ids(dir, &ids, &n, err)) != FB_OK)
		goto out;
	if (n == 0 && (flags & KR_GENERATE) == 0) {
		r = fb_err_set(err, FB_ERR_NOTFOUND, "no key in %s", dir);
		goto out;
	}
	/* A shared store means replicas: each would sign with a key of its own. */
	if (n == 0 && fb_conf_store_is_shared(conf)) {
		r = fb_err_set(err, FB_ERR_CONFIG,
		    "no signing key in %s: list the keys in keys:, the same files on every replica "
		    "(a shared store, store.driver postgres, means replicas; none is generated per "
		    "replica)",
		    dir);
		goto out;
	}
	if (n == 0) {
		id = fb_crypto_key_id_new();
		cn = fb_crypto_key_cn(conf);
		if ((r = fb_crypto_key_generate(dir, id, "rsa", AUTO_BITS, AUTO_DAYS, cn,
		         FB_KEY_ACTIVE, err)) != FB_OK)
			goto out;
		fb_log(FB_LOG_INFO,
		    "generated signing key %s (RSA %d bits, CN=%s, %d days): %s/%s%s, %s/%s%s", id,
		    AUTO_BITS, cn, AUTO_DAYS, dir, id, KEY_SUFFIX, dir, id, CERT_SUFFIX);
		if ((r = dir_ids(dir, &ids, &n, err)) != FB_OK)
			goto out;
	}
	for (i = 0; i < n; i++) {
		free(kp);
		free(cp);
		free(sp);
		kp = fb_xasprintf("%s/%s%s", dir, ids[i], KEY_SUFFIX);
		cp = fb_xasprintf("%s/%s%s", dir, ids[i], CERT_SUFFIX);
		sp = fb_xasprintf("%s/%s%s", dir, ids[i], STATE_SUFFIX);
		if ((r = read_state(sp, &state, err)) != FB_OK)
			goto out;
		if (state == FB_KEY_RETIRED && (flags & KR_RETIRED) == 0)
			continue;
		if ((r = key_load(ids[i], kp, cp, NULL, state, keyring_add(kr), err)) != FB_OK)
			goto out;
	}
	if ((flags & KR_GENERATE) != 0 && !fb_conf_store_is_shared(conf) &&
	    (r = ec_ensure(conf, dir, ids, n, kr, err)) != FB_OK)
		goto out;
	r = FB_OK;
out:
	if (lock >= 0)
		close(lock);
	ids_free(ids, n);
	free(kp);
	free(cp);
	free(sp);
	free(cn);
	free(id);
	return r;
}

static enum fb_status
keyring_load(const struct fb_conf *conf, unsigned flags, struct fb_keyring **out,
    struct fb_err *err)
{
	struct fb_keyring *kr = fb_xcalloc(1, sizeof(*kr));
	char *dir = NULL, *where = NULL;
	enum fb_status r;
	size_t i;

	*out = NULL;
	if (conf->nkeys > 0) {
		for (i = 0; i < conf->nkeys; i++) {
			const struct fb_conf_key *ck = &conf->keys[i];

			if (ck->state == FB_KEY_RETIRED && (flags & KR_RETIRED) == 0)
				continue;
			if ((r = key_load(ck->id, ck->key_file, ck->cert_file, ck->passphrase,
			         ck->state, keyring_add(kr), err)) != FB_OK)
				goto out;
		}
		where = fb_xasprintf("%s: keys", conf->path != NULL ? conf->path : "configuration");
	} else {
		if (conf->state_dir == NULL) {
			r = fb_err_set(err, FB_ERR_CONFIG,
			    "no keys are configured and no state_dir is set");
			goto out;
		}
		dir = fb_xasprintf("%s/keys", conf->state_dir);
		if ((r = load_dir(conf, dir, flags, kr, err)) != FB_OK)
			goto out;
		where = fb_xstrdup(dir);
	}
	if ((r = keyring_check(kr, where, err)) != FB_OK)
		goto out;
	*out = kr;
	kr = NULL; /* transferred */
	r = FB_OK;
out:
	fb_crypto_keyring_free(kr);
	free(dir);
	free(where);
	return r;
}

enum fb_status
fb_crypto_keyring_load(const struct fb_conf *conf, struct fb_keyring **out, struct fb_err *err)
{
	return keyring_load(conf, KR_GENERATE, out, err);
}

enum fb_status
fb_crypto_keyring_load_existing(const struct fb_conf *conf, struct fb_keyring **out,
    struct fb_err *err)
{
	return keyring_load(conf, 0, out, err);
}

void
fb_crypto_keyring_log(const struct fb_keyring *kr, int64_t min_publish)
{
	const struct fb_key *a = fb_crypto_keyring_active(kr);
	struct fb_buf pub;
	char msg[512];

	fb_buf_init(&pub, kr->n * (ID_MAX + 1) + 1);
	for (size_t i = 0; i < kr->n; i++)
		if (&kr->keys[i] != a)
			fb_buf_addf(&pub, NULL, "%s%s", pub.len > 0 ? "," : "", kr->keys[i].id);
	fb_log_write(FB_LOG_INFO, "app", __func__, NULL,
	    (const char *const[]){"active_key", a != NULL ? a->id : "",
	        "published_keys", pub.len > 0 ? pub.data : "", NULL},
	    "signing keys: %s signs, %zu published beside it", a != NULL ? a->id : "none",
	    kr->n > 0 ? kr->n - 1 : 0);
	if (fb_crypto_keyring_rollover_check(kr, min_publish, fb_time_now(), msg, sizeof(msg)))
		fb_log_write(FB_LOG_WARN, "app", __func__, NULL,
		    (const char *const[]){"active_key", a->id, NULL}, "%s", msg);
	fb_buf_cleanup(&pub);
}

enum fb_status
fb_crypto_keyring_load_all(const struct fb_conf *conf, struct fb_keyring **out,
    struct fb_err *err)
{
	return keyring_load(conf, KR_RETIRED, out, err);
}

int
fb_crypto_keyring_rollover_check(const struct fb_keyring *kr, int64_t min_publish, int64_t now,
    char *msg, size_t len)
{
	const struct fb_key *a = fb_crypto_keyring_active(kr);
	size_t others = 0;
	int64_t age;

	/*
	 * Only a rollover warns: the active key replaced an older one relying
	 * parties trust. A key of the other type made in the same second is the
	 * EC key generated beside the first RSA one (ec_ensure), not a rollover.
	 */
	for (size_t i = 0; a != NULL && i < kr->n; i++)
		if (&kr->keys[i] != a && (kr->keys[i].not_before < a->not_before ||
		                             (kr->keys[i].not_before == a->not_before &&
		                                 strcmp(kr->keys[i].alg, a->alg) == 0)))
			others++;
	if (a == NULL || others == 0 || min_publish <= 0)
		return 0;
	age = now - a->not_before;
	if (age >= min_publish)
		return 0;
	snprintf(msg, len,
	    "the active key %s was published only %lldh%02lldm ago (key_rollover.min_publish_time "
	    "is %lldh%02lldm): service providers that have not fetched the metadata since "
	    "refuse what it signs",
	    a->id, (long long)(age < 0 ? 0 : age / 3600), (long long)(age < 0 ? 0 : age % 3600 / 60),
	    (long long)(min_publish / 3600), (long long)(min_publish % 3600 / 60));
	return 1;
}

void
fb_crypto_keyring_free(struct fb_keyring *kr)
{
	if (kr == NULL)
		return;
	for (size_t i = 0; i < kr->n; i++)
		key_cleanup(&kr->keys[i]);
	free(kr->keys);
	free(kr);
}

size_t
fb_crypto_keyring_count(const struct fb_keyring *kr)
{
	return kr->n;
}

const struct fb_key *
fb_crypto_keyring_get(const struct fb_keyring *kr, size_t i)
{
	return i < kr->n ? &kr->keys[i] : NULL;
}

const struct fb_key *
fb_crypto_keyring_active(const struct fb_keyring *kr)
{
	for (size_t i = 0; i < kr->n; i++)
		if (kr->keys[i].state == FB_KEY_ACTIVE)
			return &kr->keys[i];
	return NULL;
}

void
fb_crypto_key_info(const struct fb_key *k, struct fb_key_info *out)
{
	out->id = k->id;
	out->alg = k->alg;
	out->bits = k->bits;
	out->not_before = k->not_before;
	out->not_after = k->not_after;
	out->state = k->state;
	out->key_file = k->key_file;
	out->cert_file = k->cert_file;
}

EVP_PKEY *
fb_crypto_key_pkey(const struct fb_key *k)
{
	return k->pkey;
}

X509 *
fb_crypto_key_cert(const struct fb_key *k)
{
	return k->cert;
}

/* ---- generating --------------------------------------------------------- */

static enum fb_status
id_check(const char *id, struct fb_err *err)
{
	size_t n = strlen(id);

	/* SECURITY: the id becomes a file name: no '/', no leading dot. */
	if (n == 0 || n > ID_MAX || id[0] == '.' ||
	    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
		return fb_err_set(err, FB_ERR_INVALID,
		    "key id '%.80s' is not 1..%d characters of A-Z a-z 0-9 . _ - (not starting "
		    "with .)",
		    id, ID_MAX);
	return FB_OK;
}

char *
fb_crypto_key_id_new(void)
{
	time_t t = (time_t)fb_time_now();
	unsigned char rnd[2];
	char hex[5], day[16];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y%m%d", &tm);
	fb_rand_bytes(rnd, sizeof(rnd));
	fb_hex_encode(rnd, sizeof(rnd), hex);
	return fb_xasprintf("k%s-%s", day, hex);
}

static enum fb_status
keygen(const char *alg, int bits, EVP_PKEY **out, struct fb_err *err)
{
	const char *curve;

	*out = NULL;
	if (strcmp(alg, "rsa") == 0) {
		if (bits < 2048 || bits > 8192)
			return fb_err_set(err, FB_ERR_INVALID,
			    "RSA key size %d is out of range (2048..8192)", bits);
		*out = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	} else if (strcmp(alg, "ec") == 0) {
		if (bits == 0 || bits == 256)
			curve = "P-256";
		else if (bits == 384)
			curve = "P-384";
		else
			return fb_err_set(err, FB_ERR_INVALID,
			    "EC key size %d is not supported (256 for P-256 or 384 for P-384)",
			    bits);
		*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	} else {
		return fb_err_set(err, FB_ERR_INVALID,
		    "key type '%.32s' is not supported (rsa or ec)", alg);
	}
	if (*out == NULL)
		return fb_err_openssl(err, FB_ERR_INTERNAL, "generating a %s key", alg);
	return FB_OK;
}

static enum fb_status
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, struct fb_err *err)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (ext == NULL)
		return fb_err_openssl(err, FB_ERR_INTERNAL, "certificate extension %s", value);
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (ok != 1)
		return fb_err_openssl(err, FB_ERR_INTERNAL, "certificate extension %s", value);
	return FB_OK;
}

/* A self-signed certificate for pkey, valid from now for days. */
static enum fb_status
make_cert(EVP_PKEY *pkey, const char *cn, int days, X509 **out, struct fb_err *err)
{
	time_t now = (time_t)fb_time_now();
	unsigned char serial[16];
	X509 *x = X509_new();
	BIGNUM *bn = NULL;
	X509_NAME *name;
	X509V3_CTX ctx;
	enum fb_status r = FB_ERR_INTERNAL;

	*out = NULL;
	if (x == NULL) {
		r = fb_err_openssl(err, FB_ERR_INTERNAL, "X509_new");
		goto out;
	}
	/* RFC 5280 4.1.2.2: a positive serial of at most 20 bytes; random, so never reused. */
	fb_rand_bytes(serial, sizeof(serial));
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
	bn = BN_bin2bn(serial, (int)sizeof(serial), NULL);
	name = X509_get_subject_name(x);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, &now) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	        0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, pkey) != 1) {
		r = fb_err_openssl(err, FB_ERR_INTERNAL, "building a certificate for CN=%s", cn);
		goto out;
	}
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((r = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE", err)) != FB_OK ||
	    (r = add_ext(x, &ctx, NID_subject_key_identifier, "hash", err)) != FB_OK)
		goto out;
	if (X509_sign(x, pkey, EVP_sha256()) == 0) {
		r = fb_err_openssl(err, FB_ERR_INTERNAL, "signing the certificate for CN=%s", cn);
		goto out;
	}
	*out = x;
	x = NULL; /* transferred */
	r = FB_OK;
out:
	BN_free(bn);
	X509_free(x);
	return r;
}

/* Creates path (which must not exist) with mode 0600 for writing. */
static enum fb_status
create_excl(const char *path, FILE **out, struct fb_err *err)
{
	int fd;

	*out = NULL;
	/* SECURITY: 0600 from the start, no window where the file is readable by others. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fb_err_set(err, FB_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	*out = fdopen(fd, "w");
	if (*out == NULL) {
		int e = errno;

		close(fd);
		unlink(path);
		return fb_err_set(err, FB_ERR_IO, "cannot write %s: %s", path, strerror(e));
	}
	return FB_OK;
}

/* Closes f, reporting a write error (and removing path) when there was one. */
static enum fb_status
close_written(FILE *f, int ok, const char *path, struct fb_err *err)
{
	int e = 0;

	if (!ok)
		e = errno != 0 ? errno : EIO;
	if (fflush(f) != 0 && e == 0)
		e = errno;
	if (fclose(f) != 0 && e == 0)
		e = errno;
	if (e == 0)
		return FB_OK;
	unlink(path);
	ERR_clear_error();
	return fb_err_set(err, FB_ERR_IO, "cannot write %s: %s", path, strerror(e));
}

static enum fb_status
write_key(const char *path, EVP_PKEY *pkey, struct fb_err *err)
{
	enum fb_status r;
	FILE *f;
	int ok;

	if ((r = create_excl(path, &f, err)) != FB_OK)
		return r;
	errno = 0;
	ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1;
	return close_written(f, ok, path, err);
}

static enum fb_status
write_cert(const char *path, X509 *cert, struct fb_err *err)
{
	enum fb_status r;
	FILE *f;
	int ok;

	if ((r = create_excl(path, &f, err)) != FB_OK)
		return r;
	errno = 0;
	ok = PEM_write_X509(f, cert) == 1;
	return close_written(f, ok, path, err);
}

/* Writes a state file; replace: through a temporary file renamed over path. */
static enum fb_status
write_state(const char *path, enum fb_conf_key_state state, int replace, struct fb_err *err)
{
	char *tmp = replace ? fb_xasprintf("%s.tmp", path) : fb_xstrdup(path);
	enum fb_status r;
	FILE *f;
	int ok;

	if (replace)
		unlink(tmp);
	if ((r = create_excl(tmp, &f, err)) != FB_OK)
		goto out;
	errno = 0;
	ok = fprintf(f, "%s\n", fb_crypto_key_state_name(state)) >= 0;
	if ((r = close_written(f, ok, tmp, err)) != FB_OK)
		goto out;
	if (replace && rename(tmp, path) != 0) {
		r = fb_err_set(err, FB_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
		    strerror(errno));
		unlink(tmp);
		goto out;
	}
	r = FB_OK;
out:
	free(tmp);
	return r;
}

/* Rollover: every key of dir but except that is active becomes published. */
static enum fb_status
demote_active(const char *dir, const char *except, struct fb_err *err)
{
	enum fb_conf_key_state state;
	char **ids = NULL, *sp = NULL;
	size_t n = 0, i;
	enum fb_status r;

	if ((r = dir_ids(dir, &ids, &n, err)) != FB_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (strcmp(ids[i], except) == 0)
			continue;
		free(sp);
		sp = fb_xasprintf("%s/%s%s", dir, ids[i], STATE_SUFFIX);
		if ((r = read_state(sp, &state, err)) != FB_OK)
			goto out;
		if (state != FB_KEY_ACTIVE)
			continue;
		if ((r = write_state(sp, FB_KEY_PUBLISHED, 1, err)) != FB_OK)
			goto out;
		fb_log(FB_LOG_INFO, "key %s in %s is now published (it was active)", ids[i], dir);
	}
	r = FB_OK;
out:
	ids_free(ids, n);
	free(sp);
	return r;
}

enum fb_status
fb_crypto_key_generate(const char *dir, const char *id, const char *alg, int bits, int days,
    const char *subject_cn, enum fb_conf_key_state state, struct fb_err *err)
{
	char *kp = NULL, *cp = NULL, *sp = NULL;
	int made_key = 0, made_cert = 0;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	struct stat st;
	enum fb_status r;

	if ((r = id_check(id, err)) != FB_OK)
		goto out;
	if (days < 1 || days > 36500) {
		r = fb_err_set(err, FB_ERR_INVALID,
		    "certificate validity of %d days is out of range (1..36500)", days);
		goto out;
	}
	if ((r = ensure_dir(dir, err)) != FB_OK)
		goto out;
	kp = fb_xasprintf("%s/%s%s", dir, id, KEY_SUFFIX);
	cp = fb_xasprintf("%s/%s%s", dir, id, CERT_SUFFIX);
	sp = fb_xasprintf("%s/%s%s", dir, id, STATE_SUFFIX);
	if (lstat(sp, &st) == 0) {
		r = fb_err_set(err, FB_ERR_IO, "%s exists already: key id %s is taken", sp, id);
		goto out;
	}
	if ((r = keygen(alg, bits, &pkey, err)) != FB_OK)
		goto out;
	if ((r = make_cert(pkey, subject_cn, days, &cert, err)) != FB_OK)
		goto out;
	if ((r = write_key(kp, pkey, err)) != FB_OK)
		goto out;
	made_key = 1;
	if ((r = write_cert(cp, cert, err)) != FB_OK)
		goto out;
	made_cert = 1;
	if (state == FB_KEY_ACTIVE && (r = demote_active(dir, id, err)) != FB_OK)
		goto out;
	/* Written last: a key without a state file is not loaded as half-made. */
	if ((r = write_state(sp, state, 0, err)) != FB_OK)
		goto out;
	r = FB_OK;
out:
	if (r != FB_OK && made_cert)
		unlink(cp);
	if (r != FB_OK && made_key)
		unlink(kp);
	EVP_PKEY_free(pkey);
	X509_free(cert);
	free(kp);
	free(cp);
	free(sp);
	return r;
}

enum fb_status
fb_crypto_keydir_active(const char *dir, char **id, struct fb_err *err)
{
	enum fb_conf_key_state state;
	char **ids = NULL, *sp = NULL;
	size_t n = 0, i;
	enum fb_status r;

	*id = NULL;
	if ((r = dir_ids(dir, &ids, &n, err)) != FB_OK)
		goto out;
	for (i = 0; i < n; i++) {
		free(sp);
		sp = fb_xasprintf("%s/%s%s", dir, ids[i], STATE_SUFFIX);
		if ((r = read_state(sp, &state, err)) != FB_OK)
			goto out;
		if (state == FB_KEY_ACTIVE) {
			*id = fb_xstrdup(ids[i]);
			break;
		}
	}
	r = FB_OK;
out:
	ids_free(ids, n);
	free(sp);
	return r;
}

/* The ids of dir as "a, b, c" (new), for messages. */
static char *
ids_text(char **ids, size_t n)
{
	struct fb_buf b;

	fb_buf_init(&b, 64 * (ID_MAX + 2));
	for (size_t i = 0; i < n; i++)
		fb_buf_addf(&b, NULL, "%s%s", i > 0 ? ", " : "", ids[i]);
	if (n == 0)
		fb_buf_addf(&b, NULL, "none");
	return fb_buf_take(&b);
}

enum fb_status
fb_crypto_key_state_set(const struct fb_conf *conf, const char *id, enum fb_conf_key_state to,
    enum fb_conf_key_state *was, char **prev, struct fb_err *err)
{
	char *dir = NULL, *sp = NULL, *kp = NULL, *cp = NULL, **ids = NULL, *known = NULL;
	enum fb_conf_key_state cur;
	struct fb_key k;
	size_t n = 0, i;
	enum fb_status r;

	memset(&k, 0, sizeof(k));
	*prev = NULL;
	*was = to;
	if (to != FB_KEY_ACTIVE && to != FB_KEY_RETIRED) {
		r = fb_err_set(err, FB_ERR_INVALID, "a key can only be activated or retired");
		goto out;
	}
	if (conf->nkeys > 0) {
		r = fb_err_set(err, FB_ERR_CONFIG,
		    "%s lists its keys explicitly: set 'state: %s' on key %s in its keys: list%s, "
		    "then reload fedbroker",
		    conf->path != NULL ? conf->path : "the configuration",
		    fb_crypto_key_state_name(to), id,
		    to == FB_KEY_ACTIVE ? " (and 'state: published' on the key active now)" : "");
		goto out;
	}
	if (conf->state_dir == NULL) {
		r = fb_err_set(err, FB_ERR_CONFIG, "no keys are configured and no state_dir is set");
		goto out;
	}
	dir = fb_xasprintf("%s/keys", conf->state_dir);
	if ((r = dir_ids(dir, &ids, &n, err)) != FB_OK)
		goto out;
	for (i = 0; i < n && strcmp(ids[i], id) != 0; i++)
		;
	if (i == n) {
		known = ids_text(ids, n);
		r = fb_err_set(err, FB_ERR_NOTFOUND, "no key %s in %s (keys there: %s)", id, dir,
		    known);
		goto out;
	}
	sp = fb_xasprintf("%s/%s%s", dir, id, STATE_SUFFIX);
	if ((r = read_state(sp, &cur, err)) != FB_OK)
		goto out;
	*was = cur;
	if (cur == to) {
		r = FB_OK;
		goto out;
	}
	if (to == FB_KEY_RETIRED && cur == FB_KEY_ACTIVE) {
		r = fb_err_set(err, FB_ERR_INVALID,
		    "key %s is the active (signing) key: activate another key first "
		    "('fedbroker keys activate KEY'), then retire %s",
		    id, id);
		goto out;
	}
	if (to == FB_KEY_ACTIVE && cur == FB_KEY_RETIRED) {
		r = fb_err_set(err, FB_ERR_INVALID,
		    "key %s is retired: it is no longer published, so service providers do not "
		    "trust it; generate a new key ('fedbroker keys generate') and activate that",
		    id);
		goto out;
	}
	if (to == FB_KEY_ACTIVE) {
		/* SECURITY: a key that does not load (wrong cert, weak) never becomes the signer. */
		kp = fb_xasprintf("%s/%s%s", dir, id, KEY_SUFFIX);
		cp = fb_xasprintf("%s/%s%s", dir, id, CERT_SUFFIX);
		if ((r = key_load(id, kp, cp, NULL, FB_KEY_PUBLISHED, &k, err)) != FB_OK)
			goto out;
		if ((r = fb_crypto_keydir_active(dir, prev, err)) != FB_OK)
			goto out;
		if ((r = demote_active(dir, id, err)) != FB_OK)
			goto out;
	}
	if ((r = write_state(sp, to, 1, err)) != FB_OK)
		goto out;
	fb_log(FB_LOG_INFO, "key %s in %s is now %s (it was %s)", id, dir,
	    fb_crypto_key_state_name(to), fb_crypto_key_state_name(cur));
	r = FB_OK;
out:
	key_cleanup(&k);
	ids_free(ids, n);
	free(known);
	free(dir);
	free(sp);
	free(kp);
	free(cp);
	return r;
}
