/*
 * ratelimit.c - token buckets (see ratelimit.h).
 */
#include "ratelimit.h"

#include <time.h>

double
wsg_bucket_burst(double rate, uint32_t burst)
{
    if (burst > 0)
        return (double)burst;
    return rate > 1 ? rate : 1;
}

void
wsg_bucket_init(struct wsg_bucket *b, double burst, uint64_t now_ms)
{
    b->tokens = burst;
    b->last_ms = now_ms;
}

static void
bucket_refill(struct wsg_bucket *b, double rate, double burst, uint64_t now_ms)
{
    if (now_ms <= b->last_ms)
        return;
    b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last_ms = now_ms;
}

bool
wsg_bucket_take(struct wsg_bucket *b, double rate, double burst, uint64_t now_ms,
                uint64_t *wait_ms)
{
    bucket_refill(b, rate, burst, now_ms);
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return true;
    }
    if (wait_ms != NULL)
        *wait_ms = (uint64_t)((1 - b->tokens) * 1000.0 / rate) + 1;
    return false;
}

bool
wsg_bucket_full(const struct wsg_bucket *b, double rate, double burst, uint64_t now_ms)
{
    double elapsed = now_ms > b->last_ms ? (double)(now_ms - b->last_ms) : 0;
    return b->tokens + elapsed * rate / 1000.0 >= burst;
}

uint64_t
wsg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
