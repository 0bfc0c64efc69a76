/*
 * tr.h: the common base of trellis: error codes, assertions, logging,
 * big-endian helpers and small utilities. Every module includes it.
 *
 * Errors are negative int codes (TR_E...); 0 is success. tr_strerror()
 * turns any code into text. TR_ASSERT is always compiled in and guards
 * programmer errors only: input from files, peers or disks is an error
 * return, never an abort.
 */
#ifndef TR_H
#define TR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define TR_MUST_USE __attribute__((warn_unused_result))
#define TR_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Error codes. Keep tr_strerror() in step. */
enum {
	TR_OK = 0,
	TR_EINVAL = -1,    /* bad input: malformed, out of range */
	TR_ENOMEM = -2,
	TR_EIO = -3,       /* file or system call failed (errno kept) */
	TR_ENOTFOUND = -4,
	TR_EBADSIG = -5,   /* a signature does not verify */
	TR_EVERIFY = -6,   /* a hash, link, root or certificate is wrong */
	TR_EFULL = -7,     /* the LMDB map is full */
	TR_EEXIST = -8,    /* duplicate, or already exists */
	TR_ETOOBIG = -9,   /* a size bound was exceeded */
	TR_EUNREACH = -10, /* the node cannot be reached */
	TR_EPERM = -11,    /* file permissions refused (key file) */
	TR_EDB = -12,      /* LMDB failed for another reason */
	TR_ESTATE = -13,   /* not possible in the current state */
	TR_ELAST = -14
};

const char *tr_strerror(int code);

/* CLI exit codes (DESIGN.md, the CLI contract). */
enum {
	TR_EXIT_OK = 0,
	TR_EXIT_USAGE = 1,
	TR_EXIT_INPUT = 2,
	TR_EXIT_NOTFOUND = 3,
	TR_EXIT_UNREACH = 4,
	TR_EXIT_VERIFY = 5
};

/* Map an error code to the CLI exit code that reports it. */
int tr_exit_code(int code);

/* ==== Assertions ==== */

_Noreturn void tr_assert_fail(const char *file, int line, const char *expr);
#define TR_ASSERT(e) ((e) ? (void)0 : tr_assert_fail(__FILE__, __LINE__, #e))

/* ==== Logging: logfmt lines on stderr ==== */

enum { TR_LOG_ERROR = 0, TR_LOG_WARN = 1, TR_LOG_INFO = 2, TR_LOG_DEBUG = 3 };
extern int tr_log_level;
/* The node name printed in every line (not owned; must outlive logging). */
void tr_log_set_node(const char *name);
void tr_log_emit(int level, const char *fmt, ...) TR_PRINTF(2, 3);
/* fmt continues the logfmt line: `msg="..." key=value ...`. Arguments are
 * evaluated only when the level is enabled. */
#define TR_LOG(level, ...) \
	do { \
		if ((level) <= tr_log_level) \
			tr_log_emit((level), __VA_ARGS__); \
	} while (0)

/* ==== Bytes ==== */

static inline void tr_be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static inline uint64_t tr_be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline void tr_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t tr_be32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Lowercase hex of len bytes into out (2*len+1 bytes). Returns out. */
char *tr_hex(char *out, const uint8_t *in, size_t len);
/* Parse exactly outlen bytes of hex. 0 or TR_EINVAL. */
int tr_unhex(uint8_t *out, size_t outlen, const char *hex) TR_MUST_USE;

/* How many times top-level field `field` occurs in the protobuf message
 * buf[0..len), reading only the wire format (tags and lengths), or -1
 * when the bytes are not a well-formed message (a truncated field, a bad
 * varint, wire types 3/4/6/7, field 0) or hold a field whose number is
 * not in `allowed` (bit n for field n; fields from 64 up never are).
 * With sub_allowed not 0, every occurrence of `field` must itself be such
 * a message, with fields in sub_allowed. Lets a receiver bound a repeated
 * field, and refuse unknown ones, before protobuf-c allocates an element
 * for each occurrence. */
long tr_pb_count_field(const uint8_t *buf, size_t len, uint32_t field, uint64_t allowed,
		       uint64_t sub_allowed);
#define TR_PB_FIELD(n) ((uint64_t)1 << (n))

/* The value of top-level varint field `field` in the protobuf message
 * buf[0..len) (the last occurrence wins, as when protobuf-c unpacks; 0
 * when absent, as proto3 leaves zeros out) into *v, reading only the wire
 * format. False when the bytes are not a well-formed message (as
 * tr_pb_count_field) or `field` occurs with another wire type. */
bool tr_pb_varint_field(const uint8_t *buf, size_t len, uint32_t field, uint64_t *v);

/* v in decimal, NUL-terminated, into out (at least 21 bytes); returns its
 * length. For hot paths where snprintf's format parsing shows. */
size_t tr_u64_dec(char *out, uint64_t v);

/* Whether buf[0..len) is exactly what protobuf-c packs m (the message it
 * unpacked to) into: no field repeated, reordered or padded (STYLE 17).
 * Two encodings of one block would let a partner make nodes hold and
 * serve different bytes for it. */
struct ProtobufCMessage;
bool tr_pb_canonical(const struct ProtobufCMessage *m, const uint8_t *buf, size_t len);

/* Read a whole file, at most size_max bytes, into a malloc'd buffer with a
 * trailing NUL (not counted in *len). "-" reads stdin. On error, errmsg
 * gets a one-line reason naming the path. */
int tr_read_file(const char *path, size_t size_max, uint8_t **out, size_t *len,
		 char *errmsg, size_t errlen) TR_MUST_USE;
/* Write a file atomically (temp + fsync + rename) with the given mode. */
int tr_write_file(const char *path, const void *buf, size_t len, unsigned mode,
		  char *errmsg, size_t errlen) TR_MUST_USE;

/* Name the calling thread (at most 15 bytes show; Linux), so that
 * `top -H`, `ps -L` and /proc/PID/task/TID/comm tell trellisd's threads
 * apart. A failure is ignored: the name is only for people. */
void tr_thread_name(const char *name);

/* Milliseconds from a monotonic clock and from the wall clock. */
uint64_t tr_mono_ms(void);
uint64_t tr_wall_ms(void);

#define TR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
