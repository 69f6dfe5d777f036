/*
 * bench_frame.c - receive-path throughput: frame decode + unmask vs memcpy.
 *
 * What a server does with every byte a client sends: wsg_reader_feed
 * parses each frame header and unmasks the payload while copying it into
 * the message buffer.  The floor for that is copying the same payload
 * bytes, so each case is timed next to memcpy of exactly those bytes,
 * frame by frame into one reused buffer (as the reader reuses its own),
 * in the same run and on the same input; the ratio is what matters, as
 * absolute figures move with the machine and its load.
 *
 * The input is a stream of masked binary frames (server role) with 1 MiB
 * of payload, small enough to stay in L2/L3 cache: this measures the CPU
 * cost of the protocol, not DRAM bandwidth.  Each case runs REPS rounds of about
 * ROUND_SECONDS for each contender, alternating, and keeps the best round
 * of each, so a burst of load from elsewhere skews neither side alone.
 *
 * Output: one human line per payload size, then one machine line each
 * ("BENCH_FRAME payload=... decode_gbps=... memcpy_gbps=... ratio=...").
 * GB/s are 10^9 payload bytes per second.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "message.h"
#include "../tests/unit/prng.h"

#define STREAM_PAYLOAD (1024 * 1024)
#define ROUND_SECONDS 0.1
#define REPS 3
#define TARGET_SIZE 65536
#define TARGET_RATIO 0.5

struct bench_case {
    size_t payload;          /* bytes per frame */
    size_t frames;
    size_t header;           /* bytes per frame header */
    uint8_t *stream;         /* frames back to back */
    size_t stream_len;
    uint8_t *copy_dst;       /* memcpy's equivalent of the message buffer */
};

/* Called through a volatile pointer so the copies cannot be proven
 * useless and dropped, whatever the optimiser sees. */
static void *(*volatile bench_memcpy)(void *, const void *, size_t) = memcpy;
static volatile uint8_t bench_sink;

static double
now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n);

    if (p == NULL) {
        fprintf(stderr, "bench_frame: out of memory\n");
        exit(1);
    }
    return p;
}

/* A stream of masked binary frames, each with its own key, as a client
 * would send them. */
static void
case_build(struct bench_case *c, size_t payload)
{
    uint64_t seed = UINT64_C(0x5DEECE66D) + payload;
    uint8_t *data = xmalloc(payload);
    size_t pos = 0;

    c->payload = payload;
    c->frames = STREAM_PAYLOAD / payload;
    c->header = wsg_frame_header_size(payload, true);
    c->stream_len = c->frames * (c->header + payload);
    c->stream = xmalloc(c->stream_len);
    c->copy_dst = xmalloc(payload);

    for (size_t i = 0; i < payload; i++)
        data[i] = (uint8_t)prng_next(&seed);
    for (size_t f = 0; f < c->frames; f++) {
        struct wsg_frame_header h = {
            .fin = true, .opcode = WSG_OP_BINARY, .masked = true,
            .payload_len = payload,
        };
        uint64_t key = prng_next(&seed);
        size_t written = 0;

        memcpy(h.mask_key, &key, 4);
        if (wsg_frame_encode(c->stream + pos, c->stream_len - pos, &h, data,
                             payload, &written) != WSG_OK) {
            fprintf(stderr, "bench_frame: encode failed\n");
            exit(1);
        }
        pos += written;
    }
    free(data);
}

static void
case_free(struct bench_case *c)
{
    free(c->stream);
    free(c->copy_dst);
}

/* One pass of the receive path over the whole stream. */
static void
pass_decode(const struct bench_case *c, struct wsg_reader *r)
{
    size_t pos = 0;
    uint8_t acc = 0;

    while (pos < c->stream_len) {
        struct wsg_msg msg;
        size_t used = 0;
        enum wsg_err err = wsg_reader_feed(r, c->stream + pos,
                                           c->stream_len - pos, &used, &msg);
        if (err != WSG_OK || msg.len != c->payload) {
            fprintf(stderr, "bench_frame: decode failed: %s\n",
                    wsg_strerror(err));
            exit(1);
        }
        acc ^= msg.data[msg.len - 1];
        pos += used;
    }
    bench_sink ^= acc;
}

/* The same payload bytes, copied and nothing else. */
static void
pass_memcpy(const struct bench_case *c)
{
    const uint8_t *src = c->stream + c->header;
    size_t stride = c->header + c->payload;

    for (size_t f = 0; f < c->frames; f++, src += stride)
        bench_memcpy(c->copy_dst, src, c->payload);
    bench_sink ^= c->copy_dst[c->payload - 1];
}

static double
time_decode(const struct bench_case *c, struct wsg_reader *r, long passes)
{
    double t0 = now_seconds();

    for (long i = 0; i < passes; i++)
        pass_decode(c, r);
    return now_seconds() - t0;
}

static double
time_memcpy(const struct bench_case *c, long passes)
{
    double t0 = now_seconds();

    for (long i = 0; i < passes; i++)
        pass_memcpy(c);
    return now_seconds() - t0;
}

/* Passes that take about ROUND_SECONDS, from a short timed trial. */
static long
passes_for_round(double seconds_per_pass)
{
    double n = ROUND_SECONDS / (seconds_per_pass > 1e-9 ? seconds_per_pass
                                                        : 1e-9);
    return n < 1 ? 1 : (long)n;
}

static double
gbps(const struct bench_case *c, long passes, double seconds)
{
    return (double)c->payload * (double)c->frames * (double)passes
           / seconds / 1e9;
}

struct bench_result {
    size_t payload;
    double decode_gbps, memcpy_gbps, ratio;
};

static struct bench_result
run_case(size_t payload)
{
    struct wsg_reader_limits lim = { .role = WSG_ROLE_SERVER };
    struct wsg_reader r;
    struct bench_case c;
    double best_decode = 0, best_copy = 0;
    long decode_passes, copy_passes;

    case_build(&c, payload);
    wsg_reader_init(&r, &lim);

    /* Warm caches and the reader's buffer, and calibrate. */
    decode_passes = passes_for_round(time_decode(&c, &r, 2) / 2);
    copy_passes = passes_for_round(time_memcpy(&c, 2) / 2);

    for (int rep = 0; rep < REPS; rep++) {
        double d = gbps(&c, decode_passes,
                        time_decode(&c, &r, decode_passes));
        double m = gbps(&c, copy_passes, time_memcpy(&c, copy_passes));
        if (d > best_decode)
            best_decode = d;
        if (m > best_copy)
            best_copy = m;
    }
    struct bench_result res = {
        .payload = payload, .decode_gbps = best_decode,
        .memcpy_gbps = best_copy, .ratio = best_decode / best_copy,
    };

    if (payload >= 1024)
        printf("%6zu KiB payload:", payload / 1024);
    else
        printf("%6zu B   payload:", payload);
    printf("  decode+unmask %7.2f GB/s (%7.2f M frames/s)"
           "   memcpy %7.2f GB/s   ratio %.2f\n",
           best_decode, best_decode * 1e9 / (double)payload / 1e6,
           best_copy, res.ratio);
    fflush(stdout);

    wsg_reader_free(&r);
    case_free(&c);
    return res;
}

int
main(void)
{
    static const size_t sizes[] = { 16, 1024, 65536 };
    enum { NSIZES = sizeof sizes / sizeof sizes[0] };
    struct bench_result res[NSIZES];
    double target_ratio = 0;

    printf("wsgate bench_frame: masked binary frames, server role, "
           "%d KiB payload per pass, best of %d rounds of ~%.1f s\n",
           STREAM_PAYLOAD / 1024, REPS, ROUND_SECONDS);
    for (size_t i = 0; i < NSIZES; i++) {
        res[i] = run_case(sizes[i]);
        if (sizes[i] == TARGET_SIZE)
            target_ratio = res[i].ratio;
    }
    printf("target: 64 KiB decode+unmask >= %.0f%% of memcpy: %s (%.0f%%)\n",
           TARGET_RATIO * 100,
           target_ratio >= TARGET_RATIO ? "met" : "NOT met",
           target_ratio * 100);
    for (size_t i = 0; i < NSIZES; i++)
        printf("BENCH_FRAME payload=%zu decode_gbps=%.3f memcpy_gbps=%.3f "
               "ratio=%.3f\n", res[i].payload, res[i].decode_gbps,
               res[i].memcpy_gbps, res[i].ratio);
    return 0;
}
