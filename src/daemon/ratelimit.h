/*
 * ratelimit.h - token buckets: connections_per_second_per_ip (one bucket
 * per client address, in the address table of ipcount.c) and
 * messages_per_second (one per connection).
 *
 * A bucket holds up to `burst` tokens and refills at `rate` per second;
 * each event takes one.  Refilling is computed from the time elapsed when
 * a token is asked for, so a bucket costs two numbers and no timer, and
 * every operation is O(1).
 */
#ifndef WSG_DAEMON_RATELIMIT_H
#define WSG_DAEMON_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct wsg_bucket {
    double tokens;
    uint64_t last_ms;                   /* when tokens was computed */
};

/* The burst a configured one stands for: 0 means the rate (one second's
 * worth), and never less than one token. */
double wsg_bucket_burst(double rate, uint32_t burst);

/* A full bucket, as of now_ms. */
void wsg_bucket_init(struct wsg_bucket *b, double burst, uint64_t now_ms);

/* Take one token.  false when the bucket is empty; then *wait_ms (if not
 * NULL) is how long until the next token. */
bool wsg_bucket_take(struct wsg_bucket *b, double rate, double burst, uint64_t now_ms,
                     uint64_t *wait_ms);

/* Would the bucket be full by now_ms?  (A full bucket is no different from
 * a new one, so its entry may be forgotten.) */
bool wsg_bucket_full(const struct wsg_bucket *b, double rate, double burst,
                     uint64_t now_ms);

/* CLOCK_MONOTONIC_COARSE in milliseconds: what the buckets count in. */
uint64_t wsg_now_ms(void);

#endif
