/*
 * util.c: error strings, assertions, logfmt logging, hex, whole-file
 * reads and atomic writes, clocks. No state but the log level and the node
 * name used by the logger.
 */
#include "common/tr.h"

#include <errno.h>
#include <protobuf-c/protobuf-c.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int tr_log_level = TR_LOG_INFO;
static const char *log_node = "-";

static const char *const errtext[] = {
	[0] = "ok",
	[1] = "invalid input",
	[2] = "out of memory",
	[3] = "i/o error",
	[4] = "not found",
	[5] = "bad signature",
	[6] = "verification failed",
	[7] = "ledger map is full",
	[8] = "already exists",
	[9] = "too big",
	[10] = "node unreachable",
	[11] = "permission refused",
	[12] = "database error",
	[13] = "wrong state",
};
_Static_assert(TR_ARRAY_LEN(errtext) == -TR_ELAST, "errtext in step with codes");

const char *tr_strerror(int code)
{
	if (code > 0 || code <= TR_ELAST)
		return "unknown error";
	return errtext[-code];
}

int tr_exit_code(int code)
{
	switch (code) {
	case TR_OK:
		return TR_EXIT_OK;
	case TR_ENOTFOUND:
		return TR_EXIT_NOTFOUND;
	case TR_EUNREACH:
		return TR_EXIT_UNREACH;
	case TR_EBADSIG:
	case TR_EVERIFY:
		return TR_EXIT_VERIFY;
	default:
		return TR_EXIT_INPUT;
	}
}

void tr_assert_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "assertion failed: %s:%d: %s\n", file, line, expr);
	fflush(stderr);
	abort();
}

void tr_log_set_node(const char *name)
{
	log_node = name ? name : "-";
}

void tr_log_emit(int level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	char ts[40];
	struct timespec now;
	struct tm tm;
	char line[2048];
	int n;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s node=%s ", ts,
		     now.tv_nsec / 1000000L,
		     names[level < 0 ? 0 : level > 3 ? 3 : level], log_node);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

/* One varint at buf[*pos..len) into *v; false when truncated or over 10 bytes. */
static bool pb_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 70 && *pos < len; shift += 7) {
		uint8_t b = buf[(*pos)++];
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

size_t tr_u64_dec(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0, o = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		out[o++] = tmp[--n];
	out[o] = '\0';
	return o;
}

/* A ProtobufCBuffer that compares what protobuf-c packs with the bytes
 * given, instead of storing it: no copy of a block-sized message. */
typedef struct {
	ProtobufCBuffer base; /* first: protobuf-c calls base.append */
	const uint8_t *want;
	size_t len, at;
	bool same;
} pb_compare;

static void pb_compare_append(ProtobufCBuffer *b, size_t n, const uint8_t *data)
{
	pb_compare *c = (pb_compare *)b;
	if (!c->same || n == 0)
		return;
	if (n > c->len - c->at || memcmp(c->want + c->at, data, n) != 0) {
		c->same = false;
		return;
	}
	c->at += n;
}

bool tr_pb_canonical(const struct ProtobufCMessage *m, const uint8_t *buf, size_t len)
{
	pb_compare c = {{pb_compare_append}, buf, len, 0, true};
	if (protobuf_c_message_get_packed_size(m) != len)
		return false;
	protobuf_c_message_pack_to_buffer(m, &c.base);
	return c.same && c.at == len;
}

long tr_pb_count_field(const uint8_t *buf, size_t len, uint32_t field, uint64_t allowed,
		       uint64_t sub_allowed)
{
	size_t pos = 0;
	long count = 0;
	while (pos < len) {
		uint64_t tag, v;
		if (!pb_varint(buf, len, &pos, &tag) || tag >> 3 == 0 || tag >> 3 >= 64 ||
		    !(allowed & TR_PB_FIELD(tag >> 3)))
			return -1;
		switch (tag & 7) {
		case 0:
			if (!pb_varint(buf, len, &pos, &v))
				return -1;
			break;
		case 1: /* fixed64 */
		case 5: /* fixed32 */
			v = (tag & 7) == 1 ? 8 : 4;
			if (len - pos < v)
				return -1;
			pos += v;
			break;
		case 2:
			if (!pb_varint(buf, len, &pos, &v) || v > len - pos)
				return -1;
			if (sub_allowed && tag >> 3 == field &&
			    tr_pb_count_field(buf + pos, (size_t)v, 0, sub_allowed, 0) < 0)
				return -1;
			pos += v;
			break;
		default:
			return -1;
		}
		if (tag >> 3 == field) {
			if (sub_allowed && (tag & 7) != 2)
				return -1;
			count++;
		}
	}
	return count;
}

bool tr_pb_varint_field(const uint8_t *buf, size_t len, uint32_t field, uint64_t *v)
{
	size_t pos = 0;
	uint64_t found = 0;
	while (pos < len) {
		uint64_t tag, x;
		if (!pb_varint(buf, len, &pos, &tag) || tag >> 3 == 0)
			return false;
		switch (tag & 7) {
		case 0:
			if (!pb_varint(buf, len, &pos, &x))
				return false;
			if (tag >> 3 == field)
				found = x;
			continue;
		case 1: /* fixed64 */
		case 5: /* fixed32 */
			x = (tag & 7) == 1 ? 8 : 4;
			if (len - pos < x)
				return false;
			break;
		case 2:
			if (!pb_varint(buf, len, &pos, &x) || x > len - pos)
				return false;
			break;
		default:
			return false;
		}
		if (tag >> 3 == field)
			return false;
		pos += (size_t)x;
	}
	*v = found;
	return true;
}

char *tr_hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tr_unhex(uint8_t *out, size_t outlen, const char *hex)
{
	if (strlen(hex) != 2 * outlen)
		return TR_EINVAL;
	for (size_t i = 0; i < outlen; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return TR_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return TR_OK;
}

int tr_read_file(const char *path, size_t size_max, uint8_t **out, size_t *len,
		 char *errmsg, size_t errlen)
{
	FILE *f;
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;
	int rc = TR_EIO;
	int is_stdin = strcmp(path, "-") == 0;

	f = is_stdin ? stdin : fopen(path, "rb");
	if (!f) {
		snprintf(errmsg, errlen, "cannot open '%s': %s", path, strerror(errno));
		return TR_EIO;
	}
	for (;;) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			uint8_t *nb;
			if (ncap > size_max + 1)
				ncap = size_max + 1;
			if (ncap <= n) {
				snprintf(errmsg, errlen, "'%s' is larger than %zu bytes", path,
					 size_max);
				rc = TR_ETOOBIG;
				goto fail;
			}
			nb = realloc(buf, ncap + 1);
			if (!nb) {
				snprintf(errmsg, errlen, "cannot read '%s': out of memory", path);
				rc = TR_ENOMEM;
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				snprintf(errmsg, errlen, "cannot read '%s': %s", path,
					 strerror(errno));
				goto fail;
			}
			break;
		}
	}
	if (n > size_max) {
		snprintf(errmsg, errlen, "'%s' is larger than %zu bytes", path, size_max);
		rc = TR_ETOOBIG;
		goto fail;
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf) {
			rc = TR_ENOMEM;
			goto fail;
		}
	}
	buf[n] = '\0';
	if (!is_stdin)
		fclose(f);
	*out = buf;
	*len = n;
	return TR_OK;
fail:
	free(buf);
	if (!is_stdin)
		fclose(f);
	return rc;
}

int tr_write_file(const char *path, const void *buf, size_t len, unsigned mode,
		  char *errmsg, size_t errlen)
{
	char tmp[4096];
	int fd = -1;
	const uint8_t *p = buf;
	size_t off = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(errmsg, errlen, "path too long: '%s'", path);
		return TR_EINVAL;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		goto fail;
	if (fchmod(fd, (mode_t)mode) != 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	return TR_OK;
fail:
	snprintf(errmsg, errlen, "cannot write '%s': %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return TR_EIO;
}

void tr_thread_name(const char *name)
{
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);
}

uint64_t tr_mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

uint64_t tr_wall_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}
