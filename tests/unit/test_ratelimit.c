/* test_ratelimit.c - unit tests for src/daemon/ratelimit.c (token buckets)
 * and src/daemon/ipcount.c (the bounded per-address table): bursts,
 * refill, the wait until the next token, the per-address connection cap,
 * and the table's bound under many distinct addresses. */
#include <check.h>
#include <stdio.h>

#include "config.h"
#include "ipcount.h"
#include "ratelimit.h"

Suite *ratelimit_suite(void);

START_TEST(test_burst_defaults_to_one_second_and_at_least_one)
{
    ck_assert(wsg_bucket_burst(20, 0) == 20);
    ck_assert(wsg_bucket_burst(0.5, 0) == 1);
    ck_assert(wsg_bucket_burst(20, 7) == 7);
}
END_TEST

START_TEST(test_a_bucket_gives_its_burst_then_refills_at_the_rate)
{
    struct wsg_bucket b;
    uint64_t wait = 0;
    wsg_bucket_init(&b, 3, 1000);
    for (int i = 0; i < 3; i++)
        ck_assert(wsg_bucket_take(&b, 2, 3, 1000, NULL));
    ck_assert(!wsg_bucket_take(&b, 2, 3, 1000, &wait));
    ck_assert_uint_ge(wait, 500);
    ck_assert_uint_le(wait, 501);
    ck_assert(!wsg_bucket_take(&b, 2, 3, 1400, &wait));
    ck_assert_uint_le(wait, 101);
    ck_assert(wsg_bucket_take(&b, 2, 3, 1500, NULL));
    ck_assert(!wsg_bucket_full(&b, 2, 3, 2000));
    ck_assert(wsg_bucket_full(&b, 2, 3, 3000));
    /* Never more than the burst, however long it was idle. */
    for (int i = 0; i < 3; i++)
        ck_assert(wsg_bucket_take(&b, 2, 3, 100000, NULL));
    ck_assert(!wsg_bucket_take(&b, 2, 3, 100000, NULL));
}
END_TEST

static struct wsg_limits
limits(double rate, uint32_t burst, uint32_t per_ip, uint32_t tracked)
{
    struct wsg_limits l = { .connections_per_second_per_ip = rate,
                            .connections_burst_per_ip = burst,
                            .max_connections_per_ip = per_ip,
                            .max_tracked_addresses = tracked };
    return l;
}

START_TEST(test_the_per_address_cap_counts_open_connections)
{
    struct wsg_ipcount *t = wsg_ipcount_new(16);
    struct wsg_limits l = limits(0, 0, 2, 16);
    ck_assert_int_eq(wsg_ipcount_admit(t, "192.0.2.1", &l, 0, NULL), WSG_ADMIT_OK);
    ck_assert_int_eq(wsg_ipcount_admit(t, "192.0.2.1", &l, 0, NULL), WSG_ADMIT_OK);
    ck_assert_int_eq(wsg_ipcount_admit(t, "192.0.2.1", &l, 0, NULL), WSG_ADMIT_LIMIT);
    ck_assert_int_eq(wsg_ipcount_admit(t, "192.0.2.2", &l, 0, NULL), WSG_ADMIT_OK);
    wsg_ipcount_remove(t, "192.0.2.1", &l);
    ck_assert_int_eq(wsg_ipcount_admit(t, "192.0.2.1", &l, 0, NULL), WSG_ADMIT_OK);
    ck_assert_uint_eq(wsg_ipcount_size(t), 2);
    /* Without a rate limit, an address with no connection left is gone. */
    wsg_ipcount_remove(t, "192.0.2.2", &l);
    ck_assert_uint_eq(wsg_ipcount_size(t), 1);
    wsg_ipcount_remove(t, "not there", &l);
    wsg_ipcount_free(t);
}
END_TEST

START_TEST(test_the_connection_rate_is_per_address)
{
    struct wsg_ipcount *t = wsg_ipcount_new(16);
    struct wsg_limits l = limits(1, 2, 0, 16);
    uint64_t retry = 0;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(wsg_ipcount_admit(t, "a", &l, 0, NULL), WSG_ADMIT_OK);
        wsg_ipcount_remove(t, "a", &l);
    }
    ck_assert_int_eq(wsg_ipcount_admit(t, "a", &l, 0, &retry), WSG_ADMIT_RATE);
    ck_assert_uint_ge(retry, 1000);
    ck_assert_int_eq(wsg_ipcount_admit(t, "b", &l, 0, NULL), WSG_ADMIT_OK);
    ck_assert_int_eq(wsg_ipcount_admit(t, "a", &l, 1000, NULL), WSG_ADMIT_OK);
    wsg_ipcount_free(t);
}
END_TEST

START_TEST(test_the_table_stays_bounded_and_forgets_the_idle)
{
    struct wsg_limits l = limits(1, 1, 0, 100);
    struct wsg_ipcount *t = wsg_ipcount_new(l.max_tracked_addresses);
    char addr[32];
    /* 5 addresses keep a connection open: never forgotten. */
    for (int i = 0; i < 5; i++) {
        snprintf(addr, sizeof(addr), "open-%d", i);
        ck_assert_int_eq(wsg_ipcount_admit(t, addr, &l, 0, NULL), WSG_ADMIT_OK);
    }
    for (int i = 0; i < 100000; i++) {
        snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        ck_assert_int_eq(wsg_ipcount_admit(t, addr, &l, 0, NULL), WSG_ADMIT_OK);
        wsg_ipcount_remove(t, addr, &l);
        ck_assert_uint_le(wsg_ipcount_size(t), 100 + 5);
    }
    /* The most recent are still remembered: within the second, refused. */
    ck_assert_int_eq(wsg_ipcount_admit(t, addr, &l, 0, NULL), WSG_ADMIT_RATE);
    for (int i = 0; i < 5; i++) {
        snprintf(addr, sizeof(addr), "open-%d", i);
        ck_assert_int_eq(wsg_ipcount_admit(t, addr, &l, 0, NULL), WSG_ADMIT_RATE);
    }
    /* Once their buckets are full again, admissions forget idle ones. */
    for (int i = 0; i < 200; i++)
        wsg_ipcount_admit(t, "x", &l, 5000, NULL);
    ck_assert_uint_le(wsg_ipcount_size(t), 5 + 1);
    wsg_ipcount_free(t);
}
END_TEST

Suite *
ratelimit_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("buckets");
    tcase_add_test(tc, test_burst_defaults_to_one_second_and_at_least_one);
    tcase_add_test(tc, test_a_bucket_gives_its_burst_then_refills_at_the_rate);
    tcase_add_test(tc, test_the_per_address_cap_counts_open_connections);
    tcase_add_test(tc, test_the_connection_rate_is_per_address);
    tcase_add_test(tc, test_the_table_stays_bounded_and_forgets_the_idle);
    suite_add_tcase(s, tc);
    return s;
}
