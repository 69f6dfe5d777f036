/* test_admission.c - unit tests for src/daemon/admission.c: the limits
 * every worker enforces together (the daemon's max_connections, each
 * endpoint path's, the per-address cap and rate), counted across calls as
 * the workers make them, and released by leave. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>

#include "admission.h"
#include "config.h"
#include "wsgate/module.h"

Suite *admission_suite(void);

/* The daemon's registry is not linked here: admission.c only registers
 * its gauge with it. */
struct wsg_metric *
wsg_metric_register(const char *name, const char *help, enum wsg_metric_type type,
                    const char *endpoint, double (*read)(void *arg), void *arg)
{
    (void)name, (void)help, (void)type, (void)endpoint, (void)read, (void)arg;
    return NULL;
}

void
wsg_metric_unregister(struct wsg_metric *m)
{
    (void)m;
}

static enum wsg_admit
enter(struct wsg_admission *a, const struct wsg_limits *l, const char *path,
      unsigned path_max, const char *addr)
{
    return wsg_admission_enter(a, l, path, path_max, addr, 0, NULL);
}

START_TEST(test_the_daemon_limit_counts_every_path_and_leave_frees_a_place)
{
    struct wsg_admission *a = wsg_admission_new(16);
    struct wsg_limits l = { .max_connections = 3, .max_tracked_addresses = 16 };
    ck_assert_int_eq(enter(a, &l, "/a", 0, "192.0.2.1"), WSG_ADMIT_OK);
    ck_assert_int_eq(enter(a, &l, "/b", 0, "192.0.2.2"), WSG_ADMIT_OK);
    ck_assert_int_eq(enter(a, &l, "/b", 0, "192.0.2.3"), WSG_ADMIT_OK);
    ck_assert_int_eq(enter(a, &l, "/a", 0, "192.0.2.4"), WSG_ADMIT_LIMIT);
    wsg_admission_leave(a, &l, "/b", "192.0.2.2");
    ck_assert_int_eq(enter(a, &l, "/a", 0, "192.0.2.4"), WSG_ADMIT_OK);
    wsg_admission_free(a);
}
END_TEST

START_TEST(test_a_path_limit_counts_that_path_only)
{
    struct wsg_admission *a = wsg_admission_new(16);
    struct wsg_limits l = { .max_tracked_addresses = 16 };
    ck_assert_int_eq(enter(a, &l, "/capped", 2, "192.0.2.1"), WSG_ADMIT_OK);
    ck_assert_int_eq(enter(a, &l, "/capped", 2, "192.0.2.1"), WSG_ADMIT_OK);
    ck_assert_int_eq(enter(a, &l, "/capped", 2, "192.0.2.1"), WSG_ADMIT_LIMIT);
    ck_assert_int_eq(enter(a, &l, "/other", 2, "192.0.2.1"), WSG_ADMIT_OK);
    wsg_admission_leave(a, &l, "/capped", "192.0.2.1");
    ck_assert_int_eq(enter(a, &l, "/capped", 2, "192.0.2.1"), WSG_ADMIT_OK);
    wsg_admission_free(a);
}
END_TEST

START_TEST(test_the_per_address_cap_and_rate_apply_across_paths)
{
    struct wsg_admission *a = wsg_admission_new(16);
    struct wsg_limits l = { .max_connections_per_ip = 2, .max_tracked_addresses = 16 };
    ck_assert_int_eq(enter(a, &l, "/a", 0, "192.0.2.1"), WSG_ADMIT_OK);
    ck_assert_int_eq(enter(a, &l, "/b", 0, "192.0.2.1"), WSG_ADMIT_OK);
    ck_assert_int_eq(enter(a, &l, "/c", 0, "192.0.2.1"), WSG_ADMIT_LIMIT);
    ck_assert_int_eq(enter(a, &l, "/c", 0, "192.0.2.9"), WSG_ADMIT_OK);
    wsg_admission_free(a);

    a = wsg_admission_new(16);
    struct wsg_limits r = { .connections_per_second_per_ip = 1,
                            .connections_burst_per_ip = 1, .max_tracked_addresses = 16 };
    uint64_t retry = 0;
    ck_assert_int_eq(wsg_admission_enter(a, &r, "/a", 0, "192.0.2.1", 1000, &retry),
                     WSG_ADMIT_OK);
    ck_assert_int_eq(wsg_admission_enter(a, &r, "/b", 0, "192.0.2.1", 1000, &retry),
                     WSG_ADMIT_RATE);
    ck_assert_uint_gt(retry, 0);
    wsg_admission_free(a);
}
END_TEST

/* Workers admit from their own threads: none of 4 x 2,500 entries under a
 * cap of 6,000 gets past it, and after every leave the table is empty. */
struct racer {
    struct wsg_admission *a;
    const struct wsg_limits *l;
    unsigned admitted;
};

static void *
race(void *arg)
{
    struct racer *r = arg;
    char addr[32];
    for (unsigned i = 0; i < 2500; i++) {
        snprintf(addr, sizeof(addr), "10.0.%u.%u", i / 250, i % 250);
        if (enter(r->a, r->l, "/p", 0, addr) == WSG_ADMIT_OK)
            r->admitted++;
    }
    return NULL;
}

START_TEST(test_concurrent_workers_never_exceed_the_limit)
{
    struct wsg_limits l = { .max_connections = 6000, .max_tracked_addresses = 16 };
    struct wsg_admission *a = wsg_admission_new(16);
    struct racer r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){ .a = a, .l = &l };
        ck_assert_int_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    unsigned total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        total += r[i].admitted;
    }
    ck_assert_uint_eq(total, 6000);
    ck_assert_int_eq(enter(a, &l, "/p", 0, "192.0.2.1"), WSG_ADMIT_LIMIT);
    wsg_admission_free(a);
}
END_TEST

Suite *
admission_suite(void)
{
    Suite *s = suite_create("admission");
    TCase *tc = tcase_create("limits");
    tcase_add_test(tc, test_the_daemon_limit_counts_every_path_and_leave_frees_a_place);
    tcase_add_test(tc, test_a_path_limit_counts_that_path_only);
    tcase_add_test(tc, test_the_per_address_cap_and_rate_apply_across_paths);
    tcase_add_test(tc, test_concurrent_workers_never_exceed_the_limit);
    suite_add_tcase(s, tc);
    return s;
}
