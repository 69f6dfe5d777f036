/*
 * wsgate-bench.c - a WebSocket load generator on plain epoll.
 *
 * Scenarios (--scenario):
 *   echo       N connections (--conns), each keeping K messages (--inflight)
 *              of S bytes (--size) in flight against an echo endpoint;
 *              every reply is checked byte for byte (sequence number in the
 *              first bytes, a pattern shifted by the sequence after them).
 *              Messages/s, MB/s and round-trip latency percentiles.
 *   broadcast  P publishers (--publishers) and N subscribers (--conns) in
 *              one room; each publisher keeps K broadcasts in flight (a
 *              broadcast is done when every subscriber has it).  Delivered
 *              messages/s, delivery latency from the send time carried in
 *              the payload, and lost / duplicated / reordered counts.  With
 *              --sub-url, every other subscriber connects there instead:
 *              a second node sharing the room through a backplane.
 *   connect    opens --conns connections, --inflight handshakes at a time:
 *              upgrades/s, and with --server-pid the server's RSS growth per
 *              idle connection at 1,000 and at --conns connections.
 *
 * Single-threaded, one epoll loop.  Per loop turn each connection gets at
 * most one recv per readiness event and one send (everything queued for it
 * during the turn goes out together).  Frames are encoded with the
 * protocol core (wsg_msg_encode, masked, keys from a fast PRNG) straight
 * into the connection's fixed output buffer and replies are decoded with a
 * client-role wsg_reader: nothing is allocated per message.
 *
 * --compress offers permessage-deflate (RFC 7692) and fails any connection
 * the server does not agree it on.  Echo messages are then text that looks
 * like a JSON feed (records with ids, names and numbers), sent compressed
 * and checked after inflating the replies; the sequence number is left out
 * so that the 61 variants can be compressed once, at start (a generator
 * that deflates every message would measure itself, not the server).
 *
 * --raw talks to a plain TCP echo server instead (bench/peers/tcp_echo.c,
 * or socat): replies are then our own masked frames, decoded in the server
 * role.  That measures the generator and the loopback, not a server.
 *
 * Output: a human summary on stderr and one line on stdout:
 *   WSGATE_BENCH scenario=echo ... msgs_per_s=... p99_us=... errors=0
 * Exit status: 0, or 1 on any verification or connection error, 2 on bad
 * usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "handshake.h"
#include "mask.h"
#include "deflate.h"
#include "message.h"

/* ---- options ----------------------------------------------------------- */

enum scenario { SC_ECHO, SC_BROADCAST, SC_CONNECT };

static struct {
    const char *url;
    const char *sub_url;     /* broadcast: every other subscriber's, or NULL */
    enum scenario scenario;
    long conns;
    long publishers;
    long inflight;
    size_t size;
    bool binary;
    bool raw;
    bool compress;
    double duration;
    double warmup;
    int cpu;
    long server_pid;
    long rss_mark;           /* connect: the first RSS reading, 1000 */
    double settle;           /* connect: seconds before reading RSS */
    const char *label;
} opt = {
    .url = "ws://127.0.0.1:8080/echo",
    .scenario = SC_ECHO,
    .conns = -1,
    .publishers = 1,
    .inflight = -1,
    .size = 64,
    .duration = 5,
    .warmup = 1,
    .cpu = -1,
    .server_pid = 0,
    .rss_mark = 1000,
    .settle = 1.0,
    .label = NULL,
};

/* Where to connect: --url, and --sub-url for every other subscriber. */
struct dest {
    char host_hdr[300];
    char target[1024];
    struct sockaddr_storage addr;
    socklen_t len;
};
static struct dest dests[2];

/* ---- small helpers ------------------------------------------------------ */

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wsgate-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);
    if (p == NULL)
        die("out of memory");
    return p;
}

static void *
xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n != 0 ? n : 1, sz != 0 ? sz : 1);
    if (p == NULL)
        die("out of memory");
    return p;
}

static uint64_t errors;
static unsigned errors_shown;

static void
report_error(const char *fmt, ...)
{
    va_list ap;
    errors++;
    if (errors_shown >= 10)
        return;
    errors_shown++;
    va_start(ap, fmt);
    fputs("wsgate-bench: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* xorshift64*: masking keys need not be secret in a benchmark, only
 * varied, and RAND_bytes per frame would cost more than the frame. */
static uint64_t prng_state = 0x9E3779B97F4A7C15u;

static void
fast_mask_key(uint8_t key[4], void *arg)
{
    (void)arg;
    prng_state ^= prng_state >> 12;
    prng_state ^= prng_state << 25;
    prng_state ^= prng_state >> 27;
    uint64_t v = prng_state * 0x2545F4914F6CDD1Du;
    memcpy(key, &v, 4);
}

static const char hexd[16] = "0123456789abcdef";

static void
put_hex(uint8_t *out, uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = (uint8_t)hexd[v & 15];
        v >>= 4;
    }
}

static bool
get_hex(const uint8_t *in, int digits, uint64_t *v)
{
    uint64_t r = 0;
    for (int i = 0; i < digits; i++) {
        uint8_t ch = in[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else
            return false;
        r = (r << 4) | d;
    }
    *v = r;
    return true;
}

/* ---- latency histogram: log-linear, 32 sub-buckets per power of two ----- */

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t b[HIST_BUCKETS];
};

static unsigned
hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);        /* >= HIST_SUB_BITS */
    unsigned sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
    return (e - HIST_SUB_BITS + 1) * HIST_SUB + sub;
}

/* The middle of a bucket: within 1.6% of every value in it. */
static uint64_t
hist_value(unsigned idx)
{
    if (idx < HIST_SUB)
        return idx;
    unsigned e = idx / HIST_SUB + HIST_SUB_BITS - 1;
    uint64_t sub = idx % HIST_SUB;
    uint64_t lo = (HIST_SUB + sub) << (e - HIST_SUB_BITS);
    uint64_t width = (uint64_t)1 << (e - HIST_SUB_BITS);
    return lo + width / 2;
}

static void
hist_add(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

static uint64_t
hist_pct(const struct hist *h, double pct)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)((double)h->count * pct / 100.0);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > rank) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ---- /proc readings ----------------------------------------------------- */

static long clk_tck = 100;

/* utime+stime (ticks) of pid, plus its live descendants' (websocketd runs
 * a process per connection). */
static uint64_t
read_stat_ticks(long pid, long *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    char state;
    long pp;
    unsigned long ut, st;
    if (sscanf(p + 1, " %c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &state, &pp, &ut, &st) != 4)
        return 0;
    if (ppid != NULL)
        *ppid = pp;
    return (uint64_t)ut + st;
}

static uint64_t
server_cpu_ticks(void)
{
    if (opt.server_pid <= 0)
        return 0;
    uint64_t total = read_stat_ticks(opt.server_pid, NULL);
    /* Children (and theirs: two levels are enough for what we start). */
    DIR *d = opendir("/proc");
    if (d == NULL)
        return total;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        long pid = strtol(de->d_name, NULL, 10);
        if (pid == opt.server_pid)
            continue;
        long pp = 0;
        uint64_t t = read_stat_ticks(pid, &pp);
        if (pp == opt.server_pid) {
            total += t;
        } else if (pp > 1) {
            long gp = 0;
            read_stat_ticks(pp, &gp);
            if (gp == opt.server_pid)
                total += t;
        }
    }
    closedir(d);
    return total;
}

/* VmRSS in KiB, or -1. */
static long
server_rss_kb(void)
{
    if (opt.server_pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", opt.server_pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* Slab in KiB from /proc/meminfo (kernel memory, machine-wide). */
static long
slab_kb(void)
{
    char line[256];
    FILE *f = fopen("/proc/meminfo", "r");
    if (f == NULL)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "Slab:", 5) == 0) {
            kb = strtol(line + 5, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* Busy and total jiffies of one CPU from /proc/stat. */
static void
cpu_jiffies(int cpu, uint64_t *busy, uint64_t *total)
{
    char want[16], line[512];
    *busy = *total = 0;
    if (cpu < 0)
        return;
    snprintf(want, sizeof(want), "cpu%d ", cpu);
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, want, strlen(want)) != 0)
            continue;
        unsigned long long v[8] = {0};
        sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu",
               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
        for (int i = 0; i < 8; i++)
            *total += v[i];
        *busy = *total - v[3] - v[4];          /* minus idle and iowait */
        break;
    }
    fclose(f);
}

static double
self_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
           + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- connections -------------------------------------------------------- */

enum cstate { C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSED };
enum crole { R_ECHO, R_PUB, R_SUB, R_IDLE };

struct pubstate {
    uint64_t acked;          /* first seq not yet delivered to everyone */
    uint32_t *cnt;           /* K slots: deliveries of seq (slot seq % K) */
};

struct conn {
    int fd;
    uint32_t id;
    uint8_t state;
    uint8_t role;
    bool dirty;
    bool want_out;
    struct wsg_reader rd;
    struct wsg_deflate *dfl; /* --compress: inflates the replies */
    char *hs;                /* response head while in C_HANDSHAKE */
    size_t hs_len;
    char key[WSG_HS_KEY_LEN + 1];
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    uint64_t sent, recvd;    /* data messages */
    uint64_t *ts;            /* echo: send time of in-flight message (seq % K) */
    uint64_t *next_seq;      /* subscriber: next expected seq per publisher */
    struct pubstate *pub;
    struct conn *next_dirty;
};

static const struct dest *
conn_dest(const struct conn *c)
{
    return opt.sub_url != NULL && c->role == R_SUB && c->id % 2 == 1 ? &dests[1] : &dests[0];
}

static int epfd = -1;
static struct conn *conns;
static long nconns;          /* echo/connect: all; broadcast: subscribers */
static long nall;            /* every connection (broadcast: + publishers) */
static struct conn *dirty_head;
static uint8_t *rbuf;
#define RBUF_SIZE (256 * 1024)

static uint8_t *pattern;     /* S + 64 bytes, period 61 */
#define PATTERN_PERIOD 61
static uint8_t data_opcode;
static size_t frame_max;     /* encoded size of one data message */

/* --compress: the offer, and each pattern shift's message deflated once. */
static const struct wsg_deflate_cfg offer_cfg = {
    .enabled = true,
    .level = 6,
    .mem_level = 8,
    .server_max_window_bits = 15,
    .client_max_window_bits = 15,
};
static char offer[WSG_DEFLATE_HEADER_MAX];
static uint8_t *zmsg[PATTERN_PERIOD];
static size_t zlen[PATTERN_PERIOD];

/* Run phases. */
static bool sending;         /* new messages may be queued */
static bool measuring;       /* counted */
static struct hist lat;
static uint64_t m_msgs, m_bytes;
static uint64_t bc_lost, bc_dup, bc_foreign;
static long n_open, n_pending;
static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void
mark_dirty(struct conn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        c->next_dirty = dirty_head;
        dirty_head = c;
    }
}

/* Room for n more bytes of output; returns where they go. */
static uint8_t *
out_reserve(struct conn *c, size_t n)
{
    if (c->out_off > 0 && c->out_len + n > c->out_cap) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 256;
        while (cap < c->out_len + n)
            cap *= 2;
        uint8_t *p = realloc(c->out, cap);
        if (p == NULL)
            die("out of memory");
        c->out = p;
        c->out_cap = cap;
    }
    return c->out + c->out_len;
}

static void
epoll_set(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void
conn_close(struct conn *c, bool failed)
{
    if (c->state == C_CLOSED)
        return;
    if (c->state == C_OPEN) {
        n_open--;
        wsg_reader_free(&c->rd);
        wsg_deflate_free(c->dfl);
        c->dfl = NULL;
    } else
        n_pending--;
    if (failed) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(c->fd);
    c->fd = -1;
    c->state = C_CLOSED;
    free(c->hs);
    c->hs = NULL;
    c->out_off = c->out_len = 0;
}

static void
conn_fail(struct conn *c, const char *what)
{
    if (c->state == C_CLOSED)
        return;
    report_error("connection %u: %s", c->id, what);
    conn_close(c, true);
}

/* One send for everything queued during this turn. */
static void
conn_flush(struct conn *c)
{
    c->dirty = false;
    if (c->state == C_CLOSED || c->state == C_CONNECTING)
        return;
    size_t left = c->out_len - c->out_off;
    if (left == 0)
        return;
    ssize_t n = send(c->fd, c->out + c->out_off, left, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            n = 0;
        else {
            char msg[128];
            snprintf(msg, sizeof(msg), "send: %s", strerror(errno));
            conn_fail(c, msg);
            return;
        }
    }
    c->out_off += (size_t)n;
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->want_out) {
            c->want_out = false;
            epoll_set(c, EPOLLIN);
        }
    } else if (!c->want_out) {
        c->want_out = true;
        epoll_set(c, EPOLLIN | EPOLLOUT);
    }
}

static void
flush_dirty(void)
{
    while (dirty_head != NULL) {
        struct conn *c = dirty_head;
        dirty_head = c->next_dirty;
        conn_flush(c);
    }
}

static const struct wsg_encode_opts enc_opts = {
    .mask = true,
    .mask_key = fast_mask_key,
};

static const struct wsg_encode_opts zenc_opts = {
    .mask = true,
    .rsv1 = true,
    .mask_key = fast_mask_key,
};

/* Queue the message of pattern shift v, compressed at start. */
static void
queue_zframe(struct conn *c, unsigned v)
{
    size_t cap = wsg_msg_encoded_size(zlen[v], &zenc_opts);
    uint8_t *dst = out_reserve(c, cap);
    size_t w = 0;
    enum wsg_err err = wsg_msg_encode(dst, cap, data_opcode, zmsg[v], zlen[v], &zenc_opts, &w);
    if (err != WSG_OK)
        die("encode: %s", wsg_strerror(err));
    c->out_len += w;
    mark_dirty(c);
}

/* Queue one data message whose payload is pattern-based: the first hdr
 * bytes (hex fields) are patched in after encoding, masked like the rest. */
static void
queue_frame(struct conn *c, const uint8_t *hdr, size_t hdr_len, uint64_t shift)
{
    uint8_t *dst = out_reserve(c, frame_max);
    size_t w = 0;
    const uint8_t *payload = pattern + shift;
    enum wsg_err err;

    err = wsg_msg_encode(dst, frame_max, data_opcode, payload, opt.size, &enc_opts, &w);
    if (err != WSG_OK)
        die("encode: %s", wsg_strerror(err));
    if (hdr_len > 0) {
        /* Payload starts after the header; the key is its last 4 bytes. */
        size_t hl = w - opt.size;
        uint8_t *pl = dst + hl;
        memcpy(pl, hdr, hdr_len);
        wsg_mask(pl, hdr_len, dst + hl - 4, 0);
    }
    c->out_len += w;
    mark_dirty(c);
}

/* ---- echo ---------------------------------------------------------------- */

#define ECHO_HDR 16          /* hex sequence number at the start */

static size_t
echo_hdr_len(void)
{
    if (opt.compress)
        return 0;
    return opt.size < ECHO_HDR ? opt.size : ECHO_HDR;
}

static void
echo_send(struct conn *c, uint64_t now)
{
    uint8_t hex[ECHO_HDR];
    uint64_t seq = c->sent++;
    put_hex(hex, seq, ECHO_HDR);
    size_t hl = echo_hdr_len();
    c->ts[seq % (uint64_t)opt.inflight] = now;
    if (opt.compress)
        queue_zframe(c, (unsigned)(seq % PATTERN_PERIOD));
    else
        queue_frame(c, hex + (ECHO_HDR - hl), hl, seq % PATTERN_PERIOD);
}

static void
echo_message(struct conn *c, const struct wsg_msg *m, uint64_t now)
{
    uint64_t seq = c->recvd;
    if (seq >= c->sent) {
        conn_fail(c, "a message nobody sent");
        return;
    }
    if (m->opcode != data_opcode || m->len != opt.size) {
        char msg[128];
        snprintf(msg, sizeof(msg), "message %" PRIu64 ": opcode %u length %zu, expected %u %zu",
                 seq, m->opcode, m->len, data_opcode, opt.size);
        conn_fail(c, msg);
        return;
    }
    uint8_t hex[ECHO_HDR];
    put_hex(hex, seq, ECHO_HDR);
    size_t hl = echo_hdr_len();
    if (memcmp(m->data, hex + (ECHO_HDR - hl), hl) != 0
        || memcmp(m->data + hl, pattern + seq % PATTERN_PERIOD + hl, opt.size - hl) != 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "message %" PRIu64 ": payload differs from what was sent", seq);
        conn_fail(c, msg);
        return;
    }
    c->recvd++;
    if (measuring) {
        hist_add(&lat, now - c->ts[seq % (uint64_t)opt.inflight]);
        m_msgs++;
        m_bytes += opt.size;
    }
    if (sending)
        echo_send(c, now);
}

/* ---- broadcast ------------------------------------------------------------ */

/* "b" + publisher (4 hex) + seq (16 hex) + send time ns (16 hex) */
#define BC_HDR 37

static void
pub_fill(struct conn *c, uint64_t now)
{
    struct pubstate *ps = c->pub;
    while (sending && c->sent - ps->acked < (uint64_t)opt.inflight) {
        uint8_t hdr[BC_HDR];
        uint64_t seq = c->sent++;
        hdr[0] = 'b';
        put_hex(hdr + 1, c->id - (uint64_t)nconns, 4);
        put_hex(hdr + 5, seq, 16);
        put_hex(hdr + 21, now, 16);
        ps->cnt[seq % (uint64_t)opt.inflight] = 0;
        queue_frame(c, hdr, BC_HDR, seq % PATTERN_PERIOD);
    }
}

static void
pub_delivered(struct conn *p, uint64_t seq, uint64_t now)
{
    struct pubstate *ps = p->pub;
    if (seq < ps->acked || seq >= p->sent)
        return;
    ps->cnt[seq % (uint64_t)opt.inflight]++;
    bool moved = false;
    while (ps->acked < p->sent
           && ps->cnt[ps->acked % (uint64_t)opt.inflight] >= (uint32_t)nconns) {
        ps->acked++;
        moved = true;
    }
    if (moved && p->state == C_OPEN)
        pub_fill(p, now);
}

static void
sub_message(struct conn *c, const struct wsg_msg *m, uint64_t now)
{
    uint64_t pid, seq, ts;
    if (m->opcode != data_opcode || m->len != opt.size || m->data[0] != 'b'
        || !get_hex(m->data + 1, 4, &pid) || !get_hex(m->data + 5, 16, &seq)
        || !get_hex(m->data + 21, 16, &ts) || pid >= (uint64_t)opt.publishers) {
        conn_fail(c, "broadcast message malformed");
        return;
    }
    if (memcmp(m->data + BC_HDR, pattern + seq % PATTERN_PERIOD + BC_HDR,
               opt.size - BC_HDR) != 0) {
        conn_fail(c, "broadcast payload differs from what was sent");
        return;
    }
    if (c->role == R_PUB) {
        bc_foreign++;            /* another publisher's: not counted */
        return;
    }
    struct conn *p = &conns[(uint64_t)nconns + pid];
    uint64_t *next = &c->next_seq[pid];
    if (seq < *next) {
        bc_dup++;
        return;
    }
    if (seq > *next)
        bc_lost += seq - *next;
    *next = seq + 1;
    c->recvd++;
    if (measuring) {
        hist_add(&lat, now > ts ? now - ts : 0);
        m_msgs++;
        m_bytes += opt.size;
    }
    pub_delivered(p, seq, now);
}

/* ---- input ------------------------------------------------------------------ */

static void
on_message(struct conn *c, const struct wsg_msg *m, uint64_t now)
{
    switch (m->opcode) {
    case WSG_OP_PING: {
        uint8_t *dst = out_reserve(c, WSG_CONTROL_MAX_PAYLOAD + WSG_FRAME_MAX_HEADER);
        size_t w = 0;
        if (wsg_msg_encode(dst, WSG_CONTROL_MAX_PAYLOAD + WSG_FRAME_MAX_HEADER, WSG_OP_PONG,
                           m->data, m->len, &enc_opts, &w) == WSG_OK) {
            c->out_len += w;
            mark_dirty(c);
        }
        return;
    }
    case WSG_OP_PONG:
        return;
    case WSG_OP_CLOSE: {
        char msg[200];
        snprintf(msg, sizeof(msg), "server closed with %u %.*s", m->close_code,
                 (int)m->len, (const char *)m->data);
        conn_fail(c, msg);
        return;
    }
    default:
        break;
    }
    struct wsg_msg plain = *m;
    if (m->compressed) {
        enum wsg_err err = c->dfl == NULL ? WSG_ERR_RSV_BITS
                           : wsg_deflate_inflate(c->dfl, m->data, m->len, &plain.data,
                                                 &plain.len);
        if (err != WSG_OK) {
            char msg[128];
            snprintf(msg, sizeof(msg), "compressed message: %s", wsg_strerror(err));
            conn_fail(c, msg);
            return;
        }
    }
    switch (c->role) {
    case R_ECHO:
        echo_message(c, &plain, now);
        break;
    case R_PUB:
    case R_SUB:
        sub_message(c, &plain, now);
        break;
    default:
        conn_fail(c, "a data message on an idle connection");
        break;
    }
    if (m->compressed && c->dfl != NULL)
        wsg_deflate_inflate_done(c->dfl);
}

static void
feed(struct conn *c, const uint8_t *p, size_t len, uint64_t now)
{
    while (len > 0 && c->state == C_OPEN) {
        struct wsg_msg m;
        size_t used = 0;
        enum wsg_err err = wsg_reader_feed(&c->rd, p, len, &used, &m);
        p += used;
        len -= used;
        if (err == WSG_OK)
            on_message(c, &m, now);
        else if (err == WSG_ERR_INCOMPLETE)
            break;
        else {
            char msg[128];
            snprintf(msg, sizeof(msg), "protocol error: %s", wsg_strerror(err));
            conn_fail(c, msg);
        }
    }
}

static void on_open(struct conn *c, uint64_t now);

static void
handshake_input(struct conn *c, const uint8_t *p, size_t len, uint64_t now)
{
    if (c->hs == NULL)
        c->hs = xmalloc(WSG_HS_MAX_HEAD);
    size_t room = WSG_HS_MAX_HEAD - c->hs_len;
    size_t n = len < room ? len : room;
    memcpy(c->hs + c->hs_len, p, n);
    c->hs_len += n;

    struct wsg_hs_response resp;
    size_t head = 0;
    enum wsg_err err = wsg_hs_parse_response(c->hs, c->hs_len, &resp, &head);
    if (err == WSG_ERR_INCOMPLETE && c->hs_len < WSG_HS_MAX_HEAD)
        return;
    if (err != WSG_OK) {
        conn_fail(c, "bad handshake response");
        return;
    }
    const struct dest *d = conn_dest(c);
    struct wsg_hs_client_opts ho = {.host = d->host_hdr, .target = d->target, .key = c->key,
                                    .extensions = opt.compress ? offer : NULL};
    int sel = -1;
    err = wsg_hs_check_response(&resp, &ho, opt.compress, &sel);
    if (err != WSG_OK) {
        char msg[160];
        snprintf(msg, sizeof(msg), "handshake refused: %s (status %d)", wsg_strerror(err),
                 resp.status);
        conn_fail(c, msg);
        return;
    }
    if (opt.compress) {
        bool accepted = false;
        struct wsg_deflate_params agreed;
        err = wsg_deflate_check_response(resp.headers, resp.nheaders, &offer_cfg, &accepted,
                                         &agreed);
        if (err != WSG_OK || !accepted) {
            conn_fail(c, err != WSG_OK ? "bad permessage-deflate answer"
                                       : "the server did not agree to permessage-deflate");
            return;
        }
        c->dfl = wsg_deflate_new(WSG_ROLE_CLIENT, &agreed, offer_cfg.level,
                                 offer_cfg.mem_level, 0);
        if (c->dfl == NULL)
            die("out of memory");
    }
    /* Bytes after the head are frames: those of hs, then the rest of p. */
    size_t extra_hs = c->hs_len - head;
    uint8_t tmp[WSG_HS_MAX_HEAD];
    memcpy(tmp, c->hs + head, extra_hs);
    free(c->hs);
    c->hs = NULL;
    c->hs_len = 0;
    c->state = C_OPEN;
    n_pending--;
    n_open++;
    on_open(c, now);
    feed(c, tmp, extra_hs, now);
    if (n < len)
        feed(c, p + n, len - n, now);
}

static void
conn_read(struct conn *c)
{
    for (int rounds = 0; rounds < 4 && c->state >= C_HANDSHAKE && c->state != C_CLOSED;
         rounds++) {
        ssize_t n = recv(c->fd, rbuf, RBUF_SIZE, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            char msg[128];
            snprintf(msg, sizeof(msg), "recv: %s", strerror(errno));
            conn_fail(c, msg);
            return;
        }
        if (n == 0) {
            conn_fail(c, "server closed the connection");
            return;
        }
        uint64_t now = now_ns();
        if (c->state == C_HANDSHAKE)
            handshake_input(c, rbuf, (size_t)n, now);
        else
            feed(c, rbuf, (size_t)n, now);
        if ((size_t)n < RBUF_SIZE)
            return;
    }
}

/* ---- connecting ---------------------------------------------------------------- */

static void
conn_start(struct conn *c)
{
    const struct dest *d = conn_dest(c);
    int fd = socket(d->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        report_error("socket: %s", strerror(errno));
        c->state = C_CLOSED;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->state = C_CONNECTING;
    n_pending++;
    if (connect(fd, (const struct sockaddr *)&d->addr, d->len) != 0 && errno != EINPROGRESS) {
        char msg[128];
        snprintf(msg, sizeof(msg), "connect: %s", strerror(errno));
        c->state = C_CONNECTING;
        conn_fail(c, msg);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void
conn_connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "connect: %s", strerror(err));
        conn_fail(c, msg);
        return;
    }
    c->state = C_HANDSHAKE;
    if (opt.raw) {
        /* A TCP echo peer: no handshake. */
        c->state = C_OPEN;
        n_pending--;
        n_open++;
        epoll_set(c, EPOLLIN);
        on_open(c, now_ns());
        return;
    }
    if (wsg_hs_generate_key(c->key) != WSG_OK)
        die("no random key");
    const struct dest *d = conn_dest(c);
    struct wsg_hs_client_opts ho = {.host = d->host_hdr, .target = d->target, .key = c->key,
                                    .extensions = opt.compress ? offer : NULL};
    uint8_t *dst = out_reserve(c, 2048);
    size_t n = wsg_hs_build_request((char *)dst, 2048, &ho);
    if (n == 0)
        die("cannot build the request (URL too long?)");
    c->out_len += n;
    epoll_set(c, EPOLLIN);
    mark_dirty(c);
}

/* ---- scenario glue --------------------------------------------------------------- */

static void
on_open(struct conn *c, uint64_t now)
{
    struct wsg_reader_limits rl = {
        .role = opt.raw ? WSG_ROLE_SERVER : WSG_ROLE_CLIENT,
        .max_frame = 0,
        .max_message = 0,
        .rsv_allowed = c->dfl != NULL ? WSG_RSV1 : 0,
    };
    wsg_reader_init(&c->rd, &rl);
    (void)now;
}

static void
start_traffic(uint64_t now)
{
    sending = true;
    for (long i = 0; i < nall; i++) {
        struct conn *c = &conns[i];
        if (c->state != C_OPEN)
            continue;
        if (c->role == R_ECHO)
            while (c->sent - c->recvd < (uint64_t)opt.inflight)
                echo_send(c, now);
        else if (c->role == R_PUB)
            pub_fill(c, now);
    }
}

static bool
all_answered(void)
{
    for (long i = 0; i < nall; i++) {
        struct conn *c = &conns[i];
        if (c->state != C_OPEN)
            continue;
        if (c->role == R_ECHO && c->recvd != c->sent)
            return false;
        if (c->role == R_PUB && c->pub->acked != c->sent)
            return false;
    }
    return true;
}

static void
send_close_all(void)
{
    static const uint8_t payload[2] = {0x03, 0xe8}; /* 1000 */
    for (long i = 0; i < nall; i++) {
        struct conn *c = &conns[i];
        if (c->state != C_OPEN || opt.raw)
            continue;
        uint8_t *dst = out_reserve(c, 16);
        size_t w = 0;
        if (wsg_msg_encode(dst, 16, WSG_OP_CLOSE, payload, 2, &enc_opts, &w) == WSG_OK) {
            c->out_len += w;
            mark_dirty(c);
        }
    }
    flush_dirty();
}

/* One epoll turn; returns the time after it. */
static uint64_t
loop_once(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(epfd, evs, 512, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        struct conn *c = evs[i].data.ptr;
        uint32_t e = evs[i].events;
        if (c->state == C_CLOSED)
            continue;
        if (c->state == C_CONNECTING) {
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                conn_connected(c);
            continue;
        }
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
            conn_read(c);
        if ((e & EPOLLOUT) && c->state != C_CLOSED)
            mark_dirty(c);
    }
    flush_dirty();
    return now_ns();
}

/* Open conns[from..to) with at most `window` handshakes in progress. */
static void
open_range(long from, long to, long window, double deadline_s)
{
    uint64_t deadline = now_ns() + (uint64_t)(deadline_s * 1e9);
    long next = from;
    while (!interrupted) {
        while (next < to && n_pending < window)
            conn_start(&conns[next++]);
        flush_dirty();
        if (next >= to && n_pending == 0)
            break;
        if (loop_once(50) > deadline) {
            report_error("%ld connections still not upgraded after %.0f s", n_pending,
                         deadline_s);
            for (long i = from; i < to; i++)
                if (conns[i].state == C_CONNECTING || conns[i].state == C_HANDSHAKE)
                    conn_close(&conns[i], true);
            break;
        }
    }
}

/* ---- URL ------------------------------------------------------------------------ */

static void
parse_url(const char *url, struct dest *d)
{
    const char *p;
    if (strncmp(url, "ws://", 5) == 0)
        p = url + 5;
    else if (strncmp(url, "wss://", 6) == 0)
        die("wss:// is not supported: benchmark plain ws://");
    else
        die("URL must start with ws://");
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    if (hl == 0 || hl >= sizeof(d->host_hdr))
        die("bad URL host");
    memcpy(d->host_hdr, p, hl);
    d->host_hdr[hl] = '\0';
    snprintf(d->target, sizeof(d->target), "%s", slash ? slash : "/");

    char host[300];
    const char *port = "80";
    snprintf(host, sizeof(host), "%s", d->host_hdr);
    char *colon = strrchr(host, ':');
    if (host[0] == '[') {
        char *end = strchr(host, ']');
        if (end == NULL)
            die("bad URL host");
        *end = '\0';
        if (end[1] == ':')
            port = end + 2;
        memmove(host, host + 1, strlen(host + 1) + 1);
    } else if (colon != NULL) {
        *colon = '\0';
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0 || ai == NULL)
        die("%s: %s", host, gai_strerror(rc));
    memcpy(&d->addr, ai->ai_addr, ai->ai_addrlen);
    d->len = ai->ai_addrlen;
    freeaddrinfo(ai);
}

/* ---- main --------------------------------------------------------------------- */

static void
usage(FILE *f)
{
    fputs("usage: wsgate-bench [options]\n"
          "  --url URL          ws://HOST:PORT/PATH (default ws://127.0.0.1:8080/echo)\n"
          "  --sub-url URL      broadcast: every other subscriber connects here (a\n"
          "                     second node of a cluster sharing a backplane)\n"
          "  --scenario S       echo | broadcast | connect (default echo)\n"
          "  --conns N          echo: connections (100); broadcast: subscribers (1000);\n"
          "                     connect: connections to open (10000)\n"
          "  --publishers P     broadcast: publishing connections (1)\n"
          "  --inflight K       echo: messages in flight per connection (8);\n"
          "                     broadcast: broadcasts in flight per publisher (8);\n"
          "                     connect: handshakes in progress at once (64)\n"
          "  --size S           payload bytes (64; broadcast: at least 40)\n"
          "  --binary           binary messages (default text)\n"
          "  --duration SEC     measured time (5)\n"
          "  --warmup SEC       unmeasured time first (1)\n"
          "  --cpu N            pin the generator to CPU N\n"
          "  --server-pid PID   report the server's CPU per message and RSS\n"
          "  --rss-mark N       connect: also read RSS at N connections (1000)\n"
          "  --settle SEC       connect: wait before reading RSS (1)\n"
          "  --raw              talk to a plain TCP echo server (no handshake)\n"
          "  --compress         echo, connect: negotiate permessage-deflate and send\n"
          "                     JSON-like text compressed\n"
          "  --label TEXT       copied into the result line as label=TEXT\n",
          f);
}

static long
parse_long(const char *s, const char *what, long min)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min)
        die("bad %s: %s", what, s);
    return v;
}

static double
parse_double(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || v < 0)
        die("bad %s: %s", what, s);
    return v;
}

static void
parse_args(int argc, char **argv)
{
    static const struct option lo[] = {
        {"url", required_argument, NULL, 'u'},
        {"sub-url", required_argument, NULL, 'U'},
        {"scenario", required_argument, NULL, 's'},
        {"conns", required_argument, NULL, 'c'},
        {"publishers", required_argument, NULL, 'P'},
        {"inflight", required_argument, NULL, 'k'},
        {"size", required_argument, NULL, 'z'},
        {"binary", no_argument, NULL, 'b'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},
        {"cpu", required_argument, NULL, 'C'},
        {"server-pid", required_argument, NULL, 'p'},
        {"rss-mark", required_argument, NULL, 'r'},
        {"settle", required_argument, NULL, 'S'},
        {"raw", no_argument, NULL, 'R'},
        {"compress", no_argument, NULL, 'Z'},
        {"label", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'u': opt.url = optarg; break;
        case 'U': opt.sub_url = optarg; break;
        case 's':
            if (strcmp(optarg, "echo") == 0)
                opt.scenario = SC_ECHO;
            else if (strcmp(optarg, "broadcast") == 0)
                opt.scenario = SC_BROADCAST;
            else if (strcmp(optarg, "connect") == 0)
                opt.scenario = SC_CONNECT;
            else
                die("unknown scenario %s", optarg);
            break;
        case 'c': opt.conns = parse_long(optarg, "--conns", 1); break;
        case 'P': opt.publishers = parse_long(optarg, "--publishers", 1); break;
        case 'k': opt.inflight = parse_long(optarg, "--inflight", 1); break;
        case 'z': opt.size = (size_t)parse_long(optarg, "--size", 0); break;
        case 'b': opt.binary = true; break;
        case 'd': opt.duration = parse_double(optarg, "--duration"); break;
        case 'w': opt.warmup = parse_double(optarg, "--warmup"); break;
        case 'C': opt.cpu = (int)parse_long(optarg, "--cpu", 0); break;
        case 'p': opt.server_pid = parse_long(optarg, "--server-pid", 1); break;
        case 'r': opt.rss_mark = parse_long(optarg, "--rss-mark", 1); break;
        case 'S': opt.settle = parse_double(optarg, "--settle"); break;
        case 'R': opt.raw = true; break;
        case 'Z': opt.compress = true; break;
        case 'l': opt.label = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind != argc) {
        usage(stderr);
        exit(2);
    }
    if (opt.conns < 0)
        opt.conns = opt.scenario == SC_ECHO ? 100 : opt.scenario == SC_BROADCAST ? 1000 : 10000;
    if (opt.inflight < 0)
        opt.inflight = opt.scenario == SC_CONNECT ? 64 : 8;
    if (opt.scenario == SC_BROADCAST && opt.size < 40)
        die("broadcast needs --size of at least 40 (header of %d bytes)", BC_HDR);
    if (opt.sub_url != NULL && opt.scenario != SC_BROADCAST)
        die("--sub-url is for broadcast only");
    if (opt.scenario == SC_BROADCAST && opt.raw)
        die("--raw is for echo only");
    if (opt.compress && (opt.scenario == SC_BROADCAST || opt.raw))
        die("--compress is for echo and connect");
    if (opt.duration <= 0)
        die("--duration must be > 0");
}

static void
raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        long need = opt.conns + (opt.scenario == SC_BROADCAST ? opt.publishers : 0) + 16;
        if ((rlim_t)need > rl.rlim_cur)
            die("%ld connections need %ld descriptors; the limit is %llu", opt.conns, need,
                (unsigned long long)rl.rlim_cur);
    }
}

static void
pin_cpu(void)
{
    if (opt.cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(opt.cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        die("sched_setaffinity(%d): %s", opt.cpu, strerror(errno));
}

/* --compress text: records of a JSON feed, as compressible as real ones
 * (repeated keys, varying values), from a fixed seed. */
static void
build_json_pattern(void)
{
    static const char *const names[] = {"alice", "bob", "carol", "dave", "erin", "frank"};
    size_t n = opt.size + PATTERN_PERIOD + 256;
    char *p = xmalloc(n);
    size_t w = 0;
    uint32_t x = 12345;
    while (w < opt.size + PATTERN_PERIOD) {
        x = x * 1103515245u + 12345u;
        int k = snprintf(p + w, n - w,
                         "{\"id\":%u,\"user\":\"%s\",\"price\":%u.%02u,\"qty\":%u,"
                         "\"side\":\"%s\"},",
                         x >> 12, names[(x >> 8) % 6], (x >> 16) % 1000, (x >> 4) % 100,
                         (x >> 20) % 50, (x & 1) ? "buy" : "sell");
        if (k < 0 || (size_t)k >= n - w)
            break;
        w += (size_t)k;
    }
    pattern = (uint8_t *)p;
}

static void
build_pattern(void)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (opt.compress && !opt.binary) {
        build_json_pattern();
        return;
    }
    pattern = xmalloc(opt.size + 64);
    for (size_t i = 0; i < opt.size + 64; i++) {
        size_t k = i % PATTERN_PERIOD;
        pattern[i] = opt.binary ? (uint8_t)(k * 83 + 0x80 + (k >> 1)) : (uint8_t)alpha[k];
    }
}

/* --compress: deflate each variant once.  zlib's 9 window bits keep every
 * back-reference within 250 bytes, valid whatever client_max_window_bits
 * the server answers (RFC 7692 allows it to lower ours to 8). */
static void
build_compressed(void)
{
    if (wsg_deflate_offer(&offer_cfg, offer, sizeof(offer)) == 0)
        die("cannot build the permessage-deflate offer");
    for (unsigned v = 0; v < PATTERN_PERIOD; v++) {
        enum wsg_err err = wsg_deflate_compress_once(9, offer_cfg.level, offer_cfg.mem_level,
                                                     pattern + v, opt.size, 0, &zmsg[v],
                                                     &zlen[v]);
        if (err != WSG_OK)
            die("deflate: %s", wsg_strerror(err));
    }
}

struct measure {
    uint64_t t0;
    double self_cpu0;
    uint64_t srv0;
    uint64_t busy0, total0;
};

static void
measure_begin(struct measure *ms)
{
    ms->srv0 = server_cpu_ticks();
    cpu_jiffies(opt.cpu, &ms->busy0, &ms->total0);
    ms->self_cpu0 = self_cpu_seconds();
    ms->t0 = now_ns();
}

static int
print_result_line(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
print_result_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

static int
run_traffic(void)
{
    long total = opt.conns + (opt.scenario == SC_BROADCAST ? opt.publishers : 0);
    nconns = opt.conns;
    nall = total;
    conns = xcalloc((size_t)total, sizeof(*conns));
    frame_max = wsg_msg_encoded_size(opt.size, &enc_opts);
    for (long i = 0; i < total; i++) {
        struct conn *c = &conns[i];
        c->id = (uint32_t)i;
        c->fd = -1;
        c->state = C_CLOSED;
        if (opt.scenario == SC_ECHO) {
            c->role = R_ECHO;
            c->ts = xcalloc((size_t)opt.inflight, sizeof(uint64_t));
            out_reserve(c, frame_max * (size_t)opt.inflight + 256);
        } else if (i < opt.conns) {
            c->role = R_SUB;
            c->next_seq = xcalloc((size_t)opt.publishers, sizeof(uint64_t));
        } else {
            c->role = R_PUB;
            c->pub = xcalloc(1, sizeof(struct pubstate));
            c->pub->cnt = xcalloc((size_t)opt.inflight, sizeof(uint32_t));
            out_reserve(c, frame_max * (size_t)opt.inflight + 256);
        }
    }
    if (opt.scenario == SC_BROADCAST && opt.publishers > 0xffff)
        die("too many publishers");

    long rss0 = server_rss_kb();
    uint64_t tc = now_ns();
    open_range(0, total, 256, 60);
    double connect_s = (double)(now_ns() - tc) / 1e9;
    if (n_open != total) {
        fprintf(stderr, "wsgate-bench: only %ld of %ld connections open\n", n_open, total);
        return 1;
    }

    uint64_t t = now_ns();
    start_traffic(t);
    flush_dirty();
    uint64_t warm_end = t + (uint64_t)(opt.warmup * 1e9);
    uint64_t end = warm_end + (uint64_t)(opt.duration * 1e9);
    struct measure ms = {0};
    while (!interrupted && t < end && n_open == total) {
        if (!measuring && t >= warm_end) {
            measuring = true;
            measure_begin(&ms);
        }
        t = loop_once(100);
    }
    if (!measuring)
        measure_begin(&ms);       /* interrupted in the warm-up */
    uint64_t t1 = now_ns();
    double self_cpu1 = self_cpu_seconds();
    uint64_t srv1 = server_cpu_ticks();
    long rss1 = server_rss_kb();
    uint64_t busy1, total1;
    cpu_jiffies(opt.cpu, &busy1, &total1);
    measuring = false;
    sending = false;

    /* Drain what is still in flight: every message must come back. */
    uint64_t drain_end = now_ns() + 5000000000u;
    while (!all_answered() && now_ns() < drain_end && n_open > 0)
        loop_once(50);
    uint64_t missing = 0;
    for (long i = 0; i < total; i++) {
        struct conn *c = &conns[i];
        if (c->role == R_ECHO)
            missing += c->sent - c->recvd;
        else if (c->role == R_PUB)
            missing += c->sent - c->pub->acked;
    }
    if (opt.scenario == SC_BROADCAST) {
        /* Per subscriber and publisher, what was sent but never arrived. */
        for (long i = 0; i < opt.conns; i++)
            for (long j = 0; j < opt.publishers; j++) {
                struct conn *p = &conns[opt.conns + j];
                if (conns[i].next_seq[j] < p->sent)
                    bc_lost += p->sent - conns[i].next_seq[j];
            }
        if (bc_lost || bc_dup)
            report_error("broadcast: %" PRIu64 " lost, %" PRIu64 " duplicated", bc_lost, bc_dup);
    } else if (missing > 0) {
        report_error("%" PRIu64 " messages never came back", missing);
    }
    send_close_all();
    for (long i = 0; i < total; i++)
        if (conns[i].state != C_CLOSED)
            conn_close(&conns[i], false);

    double secs = (double)(t1 - ms.t0) / 1e9;
    if (secs <= 0)
        secs = 1e-9;
    double rate = (double)m_msgs / secs;
    double mbps = (double)m_bytes / secs / 1e6;
    double gen_cpu = (self_cpu1 - ms.self_cpu0) / secs;
    double core_busy = total1 > ms.total0
                           ? (double)(busy1 - ms.busy0) / (double)(total1 - ms.total0)
                           : -1;
    double srv_us = -1;
    if (opt.server_pid > 0 && m_msgs > 0)
        srv_us = (double)(srv1 - ms.srv0) / (double)clk_tck * 1e6 / (double)m_msgs;
    double srv_cpu = opt.server_pid > 0 ? (double)(srv1 - ms.srv0) / (double)clk_tck / secs : -1;
    double gen_us = m_msgs > 0 ? (self_cpu1 - ms.self_cpu0) * 1e6 / (double)m_msgs : -1;
    const char *sc = opt.scenario == SC_ECHO ? "echo" : "broadcast";
    /* Connections still open while traffic flows: with compression, what
     * the zlib state costs. */
    double rss_per = rss0 >= 0 && rss1 >= 0 ? (double)(rss1 - rss0) / (double)total : -1;

    fprintf(stderr,
            "%s%s: %ld %s%.0ld, %ld in flight, %zu B %s, %.2f s measured (connect %.2f s)\n"
            "  %.0f msgs/s, %.2f MB/s payload; latency us p50 %.1f p99 %.1f p99.9 %.1f max %.1f\n"
            "  generator CPU %.0f%% (%.3f us/msg)%s%s",
            sc, opt.raw ? " (raw TCP echo)" : "", opt.conns,
            opt.scenario == SC_BROADCAST ? "subscribers, publishers " : "conns",
            opt.scenario == SC_BROADCAST ? opt.publishers : 0L, opt.inflight, opt.size,
            opt.binary ? "binary" : "text", secs, connect_s, rate, mbps,
            hist_pct(&lat, 50) / 1e3, hist_pct(&lat, 99) / 1e3, hist_pct(&lat, 99.9) / 1e3,
            lat.max / 1e3, gen_cpu * 100, gen_us,
            core_busy >= 0 ? ", its core busy " : "", core_busy >= 0 ? "" : "\n");
    if (core_busy >= 0)
        fprintf(stderr, "%.0f%%\n", core_busy * 100);
    if (srv_us >= 0)
        fprintf(stderr, "  server CPU %.0f%%, %.3f us/msg; RSS %ld KiB (%.2f KiB/conn)\n",
                srv_cpu * 100, srv_us, rss1, rss_per);
    if (opt.scenario == SC_BROADCAST)
        fprintf(stderr, "  lost %" PRIu64 ", duplicated %" PRIu64 "\n", bc_lost, bc_dup);
    fprintf(stderr, "  errors %" PRIu64 "\n", errors);

    print_result_line("WSGATE_BENCH scenario=%s%s%s raw=%d conns=%ld publishers=%ld "
                      "inflight=%ld size=%zu binary=%d seconds=%.3f msgs=%" PRIu64
                      " msgs_per_s=%.0f mb_per_s=%.2f p50_us=%.1f p99_us=%.1f p999_us=%.1f "
                      "max_us=%.1f gen_cpu=%.3f gen_core_busy=%.3f gen_us_per_msg=%.3f "
                      "server_cpu=%.3f server_us_per_msg=%.3f rss_kb=%ld rss_kb_per_conn=%.3f "
                      "compress=%d lost=%" PRIu64 " dup=%" PRIu64 " errors=%" PRIu64 "\n",
                      sc, opt.label ? " label=" : "", opt.label ? opt.label : "", opt.raw,
                      opt.conns, opt.scenario == SC_BROADCAST ? opt.publishers : 0L,
                      opt.inflight, opt.size, opt.binary, secs, m_msgs, rate, mbps,
                      hist_pct(&lat, 50) / 1e3, hist_pct(&lat, 99) / 1e3,
                      hist_pct(&lat, 99.9) / 1e3, lat.max / 1e3, gen_cpu, core_busy,
                      gen_us, srv_cpu, srv_us, rss1, rss_per, opt.compress, bc_lost, bc_dup,
                      errors);
    return errors ? 1 : 0;
}

static void
settle(double secs)
{
    uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
    while (!interrupted && now_ns() < end)
        loop_once(50);
}

static int
run_connect(void)
{
    long total = opt.conns;
    nconns = nall = total;
    conns = xcalloc((size_t)total, sizeof(*conns));
    for (long i = 0; i < total; i++) {
        conns[i].id = (uint32_t)i;
        conns[i].fd = -1;
        conns[i].state = C_CLOSED;
        conns[i].role = R_IDLE;
    }
    long rss0 = server_rss_kb();
    long slab0 = slab_kb();
    uint64_t srv0 = server_cpu_ticks();
    double ramp_s = 0;
    long mark = opt.rss_mark < total ? opt.rss_mark : total;
    long rss_mark = -1, rss_all = -1, slab_all = -1;

    uint64_t t = now_ns();
    open_range(0, mark, opt.inflight, 120);
    ramp_s += (double)(now_ns() - t) / 1e9;
    long open_mark = n_open;
    if (opt.server_pid > 0) {
        settle(opt.settle);
        rss_mark = server_rss_kb();
    }
    if (mark < total) {
        t = now_ns();
        open_range(mark, total, opt.inflight, 300);
        ramp_s += (double)(now_ns() - t) / 1e9;
    }
    long open_all = n_open;
    uint64_t srv1 = server_cpu_ticks();
    if (opt.server_pid > 0) {
        settle(opt.settle);
        rss_all = server_rss_kb();
        slab_all = slab_kb();
    }
    /* Every connection must still be there after the settle. */
    if (n_open != total)
        report_error("%ld of %ld connections open at the end", n_open, total);
    send_close_all();
    for (long i = 0; i < total; i++)
        if (conns[i].state != C_CLOSED)
            conn_close(&conns[i], true);   /* RST: no TIME_WAIT left behind */

    double rate = ramp_s > 0 ? (double)open_all / ramp_s : 0;
    double per_mark = rss_mark >= 0 && rss0 >= 0 && open_mark > 0
                          ? (double)(rss_mark - rss0) / (double)open_mark : -1;
    double per_all = rss_all >= 0 && rss0 >= 0 && open_all > 0
                         ? (double)(rss_all - rss0) / (double)open_all : -1;
    double kern = slab_all >= 0 && slab0 >= 0 && open_all > 0
                      ? (double)(slab_all - slab0) / (double)open_all : -1;
    double srv_us = opt.server_pid > 0 && open_all > 0
                        ? (double)(srv1 - srv0) / (double)clk_tck * 1e6 / (double)open_all : -1;
    fprintf(stderr,
            "connect: %ld connections upgraded in %.2f s (%.0f/s, %ld at a time)\n",
            open_all, ramp_s, rate, opt.inflight);
    if (opt.server_pid > 0)
        fprintf(stderr,
                "  server RSS %ld KiB idle, %ld KiB at %ld (%.2f KiB/conn), %ld KiB at %ld "
                "(%.2f KiB/conn)\n  kernel slab growth (both socket ends, machine-wide) "
                "%.2f KiB/conn; server CPU %.1f us/conn\n",
                rss0, rss_mark, open_mark, per_mark, rss_all, open_all, per_all, kern, srv_us);
    fprintf(stderr, "  errors %" PRIu64 "\n", errors);
    print_result_line("WSGATE_BENCH scenario=connect%s%s conns=%ld inflight=%ld seconds=%.3f "
                      "conns_per_s=%.0f rss0_kb=%ld rss_mark=%ld rss_mark_kb=%ld "
                      "rss_kb_per_conn_mark=%.3f rss_all_kb=%ld rss_kb_per_conn=%.3f "
                      "kernel_slab_kb_per_conn=%.3f server_us_per_conn=%.1f errors=%" PRIu64 "\n",
                      opt.label ? " label=" : "", opt.label ? opt.label : "", open_all,
                      opt.inflight, ramp_s, rate, rss0, open_mark, rss_mark, per_mark, rss_all,
                      per_all, kern, srv_us, errors);
    return errors ? 1 : 0;
}

int
main(int argc, char **argv)
{
    parse_args(argc, argv);
    parse_url(opt.url, &dests[0]);
    if (opt.sub_url != NULL)
        parse_url(opt.sub_url, &dests[1]);
    clk_tck = sysconf(_SC_CLK_TCK);
    if (clk_tck <= 0)
        clk_tck = 100;
    raise_nofile();
    pin_cpu();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1: %s", strerror(errno));
    rbuf = xmalloc(RBUF_SIZE);
    data_opcode = opt.binary ? WSG_OP_BINARY : WSG_OP_TEXT;
    build_pattern();
    if (opt.compress)
        build_compressed();
    prng_state ^= now_ns();

    int rc = opt.scenario == SC_CONNECT ? run_connect() : run_traffic();
    fflush(stdout);
    return rc;
}
