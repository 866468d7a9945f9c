/* demo.c: a small pretend server to try sprofd on. Four worker threads
 * take fake requests from a shared counter and handle each one in steps:
 * receive_request(), parse_request() (request line and headers),
 * compute_checksum() over the body (the hot spot, about two thirds of the
 * work), and render_response() (a JSON reply listing items, about a
 * quarter). A stats thread wakes up once a second and otherwise sleeps,
 * like the idle housekeeping threads of real servers, and the main thread
 * waits for it.
 *
 * Usage: demo [WORKERS]   (default 4)
 * Prints "ready" once every thread runs, then serves until killed. */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>

#include "target.h"

#define BODY_SIZE   512
#define MAX_HEADERS 32
#define ITEMS       48   /* items listed in each reply */

struct header {
	char *name, *value;
};

struct request {
	char text[2048];          /* request line and headers, as received */
	char *method, *path;
	unsigned long id;
	struct header headers[MAX_HEADERS];
	int nheaders;
	unsigned char body[BODY_SIZE];
};

static atomic_ulong next_id, served;
static atomic_int running;

/* The steps below are kept out of line so that the profile shows them
 * under the names they have here. */

/* Fills in a request the way a network read would. */
__attribute__((noinline)) void receive_request(struct request *r, unsigned long id)
{
	snprintf(r->text, sizeof(r->text),
		 "GET /items?id=%lu HTTP/1.1\r\n"
		 "Host: demo.example\r\nUser-Agent: demo-client/1.0 (X11; Linux x86_64)\r\n"
		 "Accept: application/json, text/plain;q=0.9, */*;q=0.8\r\n"
		 "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: identity\r\n"
		 "Connection: keep-alive\r\nCache-Control: no-cache\r\nPragma: no-cache\r\n"
		 "X-Request-Id: 7f3c2a10-%08lx\r\nX-Forwarded-For: 192.0.2.17, 198.51.100.4\r\n"
		 "Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; lang=en\r\n\r\n",
		 id, id);
	for (size_t i = 0; i < BODY_SIZE; i++)
		r->body[i] = (unsigned char)(id * 31 + i * 7);
}

/* Finds "\r\n" at or after p; returns NULL at the end of the text. */
static char *find_eol(char *p)
{
	for (; *p; p++)
		if (p[0] == '\r' && p[1] == '\n')
			return p;
	return NULL;
}

/* Splits the request line, reads the id from the query string, and splits
 * the headers into lower-cased names and trimmed values. */
__attribute__((noinline)) int parse_request(struct request *r)
{
	char *p = r->text, *eol;

	if (!(eol = find_eol(p)))
		return -1;
	*eol = '\0';
	r->method = p;
	while (*p && *p != ' ')
		p++;
	if (!*p)
		return -1;
	*p++ = '\0';
	r->path = p;
	r->id = 0;
	for (; *p && *p != ' '; p++)
		if (p[0] == 'i' && p[1] == 'd' && p[2] == '=')
			for (char *d = p + 3; *d >= '0' && *d <= '9'; d++)
				r->id = r->id * 10 + (unsigned long)(*d - '0');
	*p = '\0';

	r->nheaders = 0;
	for (p = eol + 2; *p && r->nheaders < MAX_HEADERS; p = eol + 2) {
		char *name = p, *value;

		if (!(eol = find_eol(p)) || eol == p)
			break;
		*eol = '\0';
		for (; *p && *p != ':'; p++)
			*p = (char)tolower((unsigned char)*p);
		if (!*p)
			return -1;
		*p++ = '\0';
		for (value = p; *value == ' '; value++)
			;
		r->headers[r->nheaders].name = name;
		r->headers[r->nheaders].value = value;
		r->nheaders++;
	}
	return 0;
}

/* CRC-32 of the body, one bit at a time: slow on purpose, the hot spot. */
__attribute__((noinline)) uint32_t compute_checksum(const unsigned char *p, size_t n)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

/* Appends a string to out; returns the new length. */
static size_t put_str(char *out, size_t len, size_t cap, const char *s)
{
	while (*s && len + 1 < cap)
		out[len++] = *s++;
	out[len] = '\0';
	return len;
}

/* Appends a number in decimal; returns the new length. */
static size_t put_uint(char *out, size_t len, size_t cap, unsigned long v)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n > 0 && len + 1 < cap)
		out[len++] = digits[--n];
	out[len] = '\0';
	return len;
}

/* Formats the reply: JSON with the request's id, the checksum and the
 * list of items the client asked for. */
__attribute__((noinline)) size_t render_response(char *out, size_t cap,
						const struct request *r, uint32_t crc)
{
	size_t len = 0;

	len = put_str(out, len, cap, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n");
	len = put_str(out, len, cap, "{\"id\":");
	len = put_uint(out, len, cap, r->id);
	len = put_str(out, len, cap, ",\"crc\":");
	len = put_uint(out, len, cap, crc);
	len = put_str(out, len, cap, ",\"items\":[");
	for (unsigned long i = 0; i < ITEMS; i++) {
		unsigned long item = r->id * ITEMS + i;

		len = put_str(out, len, cap, i ? ",{\"sku\":" : "{\"sku\":");
		len = put_uint(out, len, cap, 100000000UL + item * 7919UL % 900000000UL);
		len = put_str(out, len, cap, ",\"qty\":");
		len = put_uint(out, len, cap, 1 + item % 17);
		len = put_str(out, len, cap, ",\"cents\":");
		len = put_uint(out, len, cap, 99 + item * 37 % 100000);
		len = put_str(out, len, cap, "}");
	}
	return put_str(out, len, cap, "]}");
}

/* One request from arrival to response. */
__attribute__((noinline)) void handle_request(struct request *r, char *out, size_t cap)
{
	unsigned long id = atomic_fetch_add(&next_id, 1);
	uint32_t crc;

	receive_request(r, id);
	if (parse_request(r) == -1)
		return;
	crc = compute_checksum(r->body, BODY_SIZE);
	target_sink += render_response(out, cap, r, crc);
	atomic_fetch_add(&served, 1);
}

/* A worker thread: handles requests forever. */
static void *worker_main(void *arg)
{
	static __thread struct request req;
	static __thread char out[8192];
	char name[16];

	snprintf(name, sizeof(name), "worker-%ld", (long)arg);
	pthread_setname_np(pthread_self(), name);
	atomic_fetch_add(&running, 1);
	for (;;) {
		handle_request(&req, out, sizeof(out));
		BARRIER();
	}
	return NULL;
}

/* The housekeeping thread: mostly asleep. */
static void *stats_main(void *arg)
{
	unsigned long last = 0;

	(void)arg;
	pthread_setname_np(pthread_self(), "stats");
	atomic_fetch_add(&running, 1);
	for (;;) {
		unsigned long now;

		target_sleep_ms(1000);
		now = atomic_load(&served);
		target_sink += now - last;   /* requests per second, if anyone asked */
		last = now;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long workers = target_arg_long(argc, argv, 1, 4);
	pthread_t t;

	for (long i = 0; i < workers; i++)
		if (pthread_create(&t, NULL, worker_main, (void *)i) != 0) {
			perror("pthread_create");
			return 1;
		}
	if (pthread_create(&t, NULL, stats_main, NULL) != 0) {
		perror("pthread_create");
		return 1;
	}
	while (atomic_load(&running) < workers + 1)
		target_sleep_ms(1);
	target_ready();
	pthread_join(t, NULL);
	return 0;
}
