/*
 * test_rooms.c - unit tests for src/modules/rooms.c: rooms made by the first
 * join and freed with the last leave, names as bytes, max_members, the
 * member list surviving leaves from anywhere, a table of many rooms, and
 * delivery: once to every other member of the room, one framing per
 * message, slow or closing receivers counted and skipped, never stopping
 * the others.
 *
 * The wsg_conn_* calls rooms.c makes are faked here: a fake connection
 * records what it was sent and answers with the send result a test gives
 * it; fake shared messages count allocations and references.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prng.h"
#include "rooms.h"

Suite *rooms_suite(void);

/* ---- fakes of wsgate/conn.h ------------------------------------------- */

struct wsg_conn {
    enum wsg_send_result result;   /* what a send to it returns */
    unsigned calls;                /* sends attempted */
    unsigned received;             /* sends that queued (OK or FULL) */
    struct wsg_shared_msg *last;   /* the last message queued, referenced */
};

struct wsg_shared_msg {
    unsigned refs;
    enum wsg_message_type type;
    size_t len;
    char data[64];
};

static unsigned msgs_made;         /* wsg_shared_msg_new calls that succeeded */
static unsigned msgs_live;         /* not yet freed */
static bool msgs_fail;             /* wsg_shared_msg_new returns NULL */

struct wsg_shared_msg *
wsg_shared_msg_new(enum wsg_message_type type, const void *data, size_t len)
{
    if (msgs_fail)
        return NULL;
    struct wsg_shared_msg *m = calloc(1, sizeof(*m));
    ck_assert_ptr_nonnull(m);
    m->refs = 1;
    m->type = type;
    m->len = len;
    memcpy(m->data, data, len < sizeof(m->data) ? len : sizeof(m->data));
    msgs_made++;
    msgs_live++;
    return m;
}

void
wsg_shared_msg_ref(struct wsg_shared_msg *m)
{
    m->refs++;
}

void
wsg_shared_msg_unref(struct wsg_shared_msg *m)
{
    if (m != NULL && --m->refs == 0) {
        msgs_live--;
        free(m);
    }
}

/* Like the daemon: a queued message is held by reference until written. */
enum wsg_send_result
wsg_conn_send_shared(struct wsg_conn *c, struct wsg_shared_msg *m)
{
    c->calls++;
    if (c->result == WSG_SEND_OK || c->result == WSG_SEND_FULL) {
        c->received++;
        wsg_shared_msg_ref(m);
        wsg_shared_msg_unref(c->last);
        c->last = m;
    }
    return c->result;
}

/* ---- helpers ---------------------------------------------------------- */

#define NMAX 64

static struct rooms *rooms;
static struct wsg_conn conns[NMAX];
static struct rooms_member members[NMAX];

static void
setup(void)
{
    msgs_made = msgs_live = 0;
    msgs_fail = false;
    memset(conns, 0, sizeof(conns));
    memset(members, 0, sizeof(members));
    for (int i = 0; i < NMAX; i++)
        members[i].conn = &conns[i];
    rooms = rooms_new();
    ck_assert_ptr_nonnull(rooms);
}

/* Every message written (references dropped): nothing may be left. */
static void
teardown(void)
{
    for (int i = 0; i < NMAX; i++) {
        wsg_shared_msg_unref(conns[i].last);
        conns[i].last = NULL;
    }
    rooms_free(rooms);
    rooms = NULL;
    ck_assert_uint_eq(msgs_live, 0);
}

static void
join(int i, const char *name)
{
    ck_assert_int_eq(rooms_join(rooms, &members[i], name, strlen(name), 0), ROOMS_JOINED);
}

static struct room *
find(const char *name)
{
    return rooms_find(rooms, name, strlen(name));
}

static void
mark(struct rooms_member *m, void *arg)
{
    unsigned *seen = arg;
    seen[m - members]++;
}

/* The members room_foreach visits are exactly want[0..n) (once each), and
 * room_members agrees. */
static void
assert_members(struct room *room, const int *want, size_t n)
{
    unsigned seen[NMAX] = {0};
    room_foreach(room, mark, seen);
    ck_assert_uint_eq(room_members(room), n);
    unsigned total = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(seen[want[i]] == 1, "member %d seen %u times", want[i], seen[want[i]]);
        ck_assert_ptr_eq(members[want[i]].room, room);
    }
    for (int i = 0; i < NMAX; i++)
        total += seen[i];
    ck_assert_uint_eq(total, n);
}

static long
publish(int from, const char *text, bool include_sender, struct rooms_delivery *d)
{
    return rooms_publish(rooms, &members[from], WSG_MESSAGE_TEXT, text, strlen(text),
                         include_sender, d);
}

/* ---- membership ------------------------------------------------------- */

START_TEST(test_first_join_creates_the_room_and_last_leave_frees_it)
{
    ck_assert_uint_eq(rooms_count(rooms), 0);
    ck_assert_ptr_null(find("lobby"));
    join(0, "lobby");
    struct room *room = find("lobby");
    ck_assert_ptr_nonnull(room);
    ck_assert_ptr_eq(members[0].room, room);
    ck_assert_uint_eq(rooms_count(rooms), 1);
    join(1, "lobby");
    ck_assert_ptr_eq(find("lobby"), room);
    ck_assert_uint_eq(rooms_count(rooms), 1);
    assert_members(room, (int[]){0, 1}, 2);

    rooms_leave(rooms, &members[0]);
    ck_assert_ptr_null(members[0].room);
    ck_assert_ptr_eq(find("lobby"), room);
    assert_members(room, (int[]){1}, 1);
    rooms_leave(rooms, &members[1]);
    ck_assert_ptr_null(find("lobby"));
    ck_assert_uint_eq(rooms_count(rooms), 0);
}
END_TEST

START_TEST(test_names_are_bytes_compared_with_their_length)
{
    ck_assert_int_eq(rooms_join(rooms, &members[0], "", 0, 0), ROOMS_JOINED);
    ck_assert_int_eq(rooms_join(rooms, &members[1], "a", 1, 0), ROOMS_JOINED);
    ck_assert_int_eq(rooms_join(rooms, &members[2], "a\0b", 3, 0), ROOMS_JOINED);
    ck_assert_int_eq(rooms_join(rooms, &members[3], "a\0c", 3, 0), ROOMS_JOINED);
    ck_assert_int_eq(rooms_join(rooms, &members[4], "A", 1, 0), ROOMS_JOINED);
    ck_assert_int_eq(rooms_join(rooms, &members[5], "a\0b", 3, 0), ROOMS_JOINED);
    ck_assert_uint_eq(rooms_count(rooms), 5);

    size_t len = 99;
    struct room *ab = rooms_find(rooms, "a\0b", 3);
    ck_assert_ptr_nonnull(ab);
    ck_assert_int_eq(memcmp(room_name(ab, &len), "a\0b", 4), 0); /* NUL-terminated */
    ck_assert_uint_eq(len, 3);
    assert_members(ab, (int[]){2, 5}, 2);
    assert_members(rooms_find(rooms, "", 0), (int[]){0}, 1);
    ck_assert_str_eq(room_name(rooms_find(rooms, "", 0), &len), "");
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_null(rooms_find(rooms, "a\0", 2));
    ck_assert_ptr_null(rooms_find(rooms, "b", 1));
}
END_TEST

/* The caller's buffer for the name may be gone after the join. */
START_TEST(test_the_room_keeps_its_own_copy_of_the_name)
{
    char buf[16];
    strcpy(buf, "lobby");
    ck_assert_int_eq(rooms_join(rooms, &members[0], buf, 5, 0), ROOMS_JOINED);
    strcpy(buf, "XXXXX");
    ck_assert_str_eq(room_name(members[0].room, NULL), "lobby");
    ck_assert_ptr_eq(find("lobby"), members[0].room);
}
END_TEST

START_TEST(test_max_members_refuses_one_more_and_leaves_it_in_no_room)
{
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rooms_join(rooms, &members[i], "r", 1, 3), ROOMS_JOINED);
    ck_assert_int_eq(rooms_join(rooms, &members[3], "r", 1, 3), ROOMS_FULL);
    ck_assert_ptr_null(members[3].room);
    assert_members(find("r"), (int[]){0, 1, 2}, 3);
    /* Another room has its own count. */
    ck_assert_int_eq(rooms_join(rooms, &members[3], "s", 1, 3), ROOMS_JOINED);
    rooms_leave(rooms, &members[3]);
    /* A place freed is a place taken. */
    rooms_leave(rooms, &members[1]);
    ck_assert_int_eq(rooms_join(rooms, &members[3], "r", 1, 3), ROOMS_JOINED);
    ck_assert_int_eq(rooms_join(rooms, &members[4], "r", 1, 3), ROOMS_FULL);
    assert_members(find("r"), (int[]){0, 2, 3}, 3);
}
END_TEST

START_TEST(test_max_members_0_is_unlimited)
{
    for (int i = 0; i < NMAX; i++)
        ck_assert_int_eq(rooms_join(rooms, &members[i], "r", 1, 0), ROOMS_JOINED);
    ck_assert_uint_eq(room_members(find("r")), NMAX);
}
END_TEST

/* The list is intact whichever member leaves: head, middle or tail. */
START_TEST(test_leaving_from_head_middle_and_tail_keeps_the_others)
{
    for (int i = 0; i < 6; i++)
        join(i, "r");
    struct room *room = find("r");
    rooms_leave(rooms, &members[5]); /* the head: joins go in front */
    assert_members(room, (int[]){0, 1, 2, 3, 4}, 5);
    rooms_leave(rooms, &members[2]);
    assert_members(room, (int[]){0, 1, 3, 4}, 4);
    rooms_leave(rooms, &members[0]); /* the tail */
    assert_members(room, (int[]){1, 3, 4}, 3);
    join(0, "r");
    assert_members(room, (int[]){0, 1, 3, 4}, 4);
}
END_TEST

START_TEST(test_leave_twice_or_without_a_room_does_nothing)
{
    join(0, "r");
    join(1, "r");
    rooms_leave(rooms, &members[0]);
    rooms_leave(rooms, &members[0]);
    rooms_leave(rooms, &members[7]);
    assert_members(find("r"), (int[]){1}, 1);
    ck_assert_uint_eq(rooms_count(rooms), 1);
}
END_TEST

static void
leave_if_even(struct rooms_member *m, void *arg)
{
    unsigned *visits = arg;
    (*visits)++;
    if ((m - members) % 2 == 0)
        rooms_leave(rooms, m);
}

START_TEST(test_foreach_may_take_the_current_member_out)
{
    for (int i = 0; i < 10; i++)
        join(i, "r");
    unsigned visits = 0;
    room_foreach(find("r"), leave_if_even, &visits);
    ck_assert_uint_eq(visits, 10);
    assert_members(find("r"), (int[]){1, 3, 5, 7, 9}, 5);
}
END_TEST

/* Room names from clients: many rooms come and go; the table grows and
 * shrinks under them and finds every one throughout. */
START_TEST(test_ten_thousand_rooms_join_find_and_leave_in_any_order)
{
    enum { N = 10000 };
    struct rooms_member *ms = calloc(N, sizeof(*ms));
    int *order = malloc(N * sizeof(*order));
    ck_assert_ptr_nonnull(ms);
    ck_assert_ptr_nonnull(order);
    char name[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(name, sizeof(name), "room-%d", i);
        ck_assert_int_eq(rooms_join(rooms, &ms[i], name, (size_t)n, 0), ROOMS_JOINED);
        order[i] = i;
    }
    ck_assert_uint_eq(rooms_count(rooms), N);
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(prng_next(&seed) % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int k = 0; k < N; k++) {
        int i = order[k];
        int n = snprintf(name, sizeof(name), "room-%d", i);
        struct room *room = rooms_find(rooms, name, (size_t)n);
        ck_assert_ptr_eq(room, ms[i].room);
        rooms_leave(rooms, &ms[i]);
        ck_assert_ptr_null(rooms_find(rooms, name, (size_t)n));
        ck_assert_uint_eq(rooms_count(rooms), (size_t)(N - k - 1));
        if (k % 997 == 0) { /* the survivors are still found */
            for (int l = k + 1; l < N; l += 101) {
                int s = order[l];
                n = snprintf(name, sizeof(name), "room-%d", s);
                ck_assert_ptr_eq(rooms_find(rooms, name, (size_t)n), ms[s].room);
            }
        }
    }
    free(order);
    free(ms);
}
END_TEST

START_TEST(test_free_with_members_leaves_them_in_no_room)
{
    join(0, "a");
    join(1, "a");
    join(2, "b");
    rooms_free(rooms);
    rooms = NULL;
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(members[i].room);
        ck_assert_ptr_null(members[i].next);
        ck_assert_ptr_null(members[i].prev);
    }
}
END_TEST

START_TEST(test_free_null_is_a_no_op)
{
    rooms_free(NULL);
}
END_TEST

/* ---- delivery --------------------------------------------------------- */

START_TEST(test_publish_reaches_every_other_member_once_and_not_the_sender)
{
    for (int i = 0; i < 10; i++)
        join(i, "r");
    struct rooms_delivery d;
    ck_assert_int_eq(publish(3, "hello", false, &d), 9);
    ck_assert_uint_eq(d.sent, 9);
    ck_assert_uint_eq(d.dropped + d.closed + d.failed, 0);
    for (int i = 0; i < 10; i++) {
        ck_assert_uint_eq(conns[i].calls, i == 3 ? 0 : 1);
        ck_assert_uint_eq(conns[i].received, i == 3 ? 0 : 1);
    }
    ck_assert_uint_eq(conns[0].last->type, WSG_MESSAGE_TEXT);
    ck_assert_uint_eq(conns[0].last->len, 5);
    ck_assert_int_eq(memcmp(conns[0].last->data, "hello", 5), 0);
}
END_TEST

START_TEST(test_publish_with_include_sender_reaches_the_sender_too)
{
    for (int i = 0; i < 4; i++)
        join(i, "r");
    ck_assert_int_eq(publish(2, "x", true, NULL), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(conns[i].received, 1);
    /* Alone in a room, a sender hears only itself. */
    join(9, "alone");
    ck_assert_int_eq(publish(9, "y", true, NULL), 1);
    ck_assert_uint_eq(conns[9].received, 1);
}
END_TEST

START_TEST(test_publish_stays_in_the_senders_room)
{
    for (int i = 0; i < 8; i++)
        join(i, i % 2 == 0 ? "even" : "odd");
    ck_assert_int_eq(publish(0, "to evens", false, NULL), 3);
    ck_assert_int_eq(publish(1, "to odds", true, NULL), 4);
    for (int i = 0; i < 8; i++) {
        ck_assert_uint_eq(conns[i].received, i == 0 ? 0 : 1);
        ck_assert_str_eq(conns[i].last != NULL ? conns[i].last->data : "",
                         i == 0 ? "" : i % 2 == 0 ? "to evens" : "to odds");
    }
}
END_TEST

/* One framing per message whatever the audience, and every reference
 * taken is given back (teardown checks nothing is left alive). */
START_TEST(test_publish_frames_each_message_once)
{
    for (int i = 0; i < NMAX; i++)
        join(i, "r");
    for (int k = 0; k < 5; k++)
        ck_assert_int_eq(publish(k, "m", false, NULL), NMAX - 1);
    ck_assert_uint_eq(msgs_made, 5);
    for (int i = 0; i < NMAX; i++)
        ck_assert_uint_eq(conns[i].received, i < 5 ? 4 : 5);
    /* Only the receivers' references keep a message alive: the last one
     * is held by all but its sender, who still holds the one before. */
    ck_assert_uint_eq(conns[0].last->refs, NMAX - 1);
    ck_assert_uint_eq(conns[4].last->refs, 1);
    ck_assert_uint_eq(msgs_live, 2);
}
END_TEST

START_TEST(test_publish_to_nobody_frames_nothing)
{
    join(0, "r");
    struct rooms_delivery d = {1, 1, 1, 1};
    ck_assert_int_eq(publish(0, "lonely", false, &d), 0);
    ck_assert_uint_eq(msgs_made, 0);
    ck_assert_uint_eq(d.sent + d.dropped + d.closed + d.failed, 0);
    /* Nor from a member in no room. */
    ck_assert_int_eq(publish(5, "nowhere", true, NULL), 0);
    ck_assert_uint_eq(msgs_made, 0);
}
END_TEST

/* A slow reader dropping, one closing and one failing are counted and
 * skipped; everyone after them in the list still gets the message. */
START_TEST(test_publish_counts_slow_and_closing_receivers_and_goes_on)
{
    for (int i = 0; i < 8; i++)
        join(i, "r");
    conns[1].result = WSG_SEND_DROPPED;
    conns[2].result = WSG_SEND_CLOSED;
    conns[3].result = WSG_SEND_ERROR;
    conns[4].result = WSG_SEND_FULL;
    conns[6].result = WSG_SEND_DROPPED;
    struct rooms_delivery d;
    ck_assert_int_eq(publish(0, "m", false, &d), 3);
    ck_assert_uint_eq(d.sent, 3);
    ck_assert_uint_eq(d.dropped, 2);
    ck_assert_uint_eq(d.closed, 1);
    ck_assert_uint_eq(d.failed, 1);
    for (int i = 1; i < 8; i++)
        ck_assert_uint_eq(conns[i].calls, 1);
    ck_assert_uint_eq(conns[4].received, 1);
    ck_assert_uint_eq(conns[5].received, 1);
    ck_assert_uint_eq(conns[7].received, 1);
}
END_TEST

START_TEST(test_publish_out_of_memory_sends_nothing)
{
    join(0, "r");
    join(1, "r");
    msgs_fail = true;
    struct rooms_delivery d;
    ck_assert_int_eq(publish(0, "m", false, &d), -1);
    ck_assert_uint_eq(conns[1].calls, 0);
    ck_assert_uint_eq(d.sent + d.dropped + d.closed + d.failed, 0);
}
END_TEST

/* What a backplane calls with a message from another node: every local
 * member (except NULL), adding to the tally it is given. */
START_TEST(test_deliver_reaches_all_but_except_and_adds_to_the_tally)
{
    for (int i = 0; i < 5; i++)
        join(i, "r");
    conns[4].result = WSG_SEND_CLOSED;
    struct wsg_shared_msg *msg = wsg_shared_msg_new(WSG_MESSAGE_BINARY, "\x01\x02", 2);
    struct rooms_delivery d = {10, 20, 30, 40};
    rooms_deliver(find("r"), NULL, msg, &d);
    ck_assert_uint_eq(d.sent, 14);
    ck_assert_uint_eq(d.closed, 31);
    rooms_deliver(find("r"), &members[0], msg, NULL);
    wsg_shared_msg_unref(msg);
    ck_assert_uint_eq(conns[0].received, 1);
    for (int i = 1; i < 4; i++)
        ck_assert_uint_eq(conns[i].received, 2);
    ck_assert_uint_eq(conns[1].last->type, WSG_MESSAGE_BINARY);
}
END_TEST

Suite *
rooms_suite(void)
{
    Suite *s = suite_create("rooms");
    TCase *tc = tcase_create("membership");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_first_join_creates_the_room_and_last_leave_frees_it);
    tcase_add_test(tc, test_names_are_bytes_compared_with_their_length);
    tcase_add_test(tc, test_the_room_keeps_its_own_copy_of_the_name);
    tcase_add_test(tc, test_max_members_refuses_one_more_and_leaves_it_in_no_room);
    tcase_add_test(tc, test_max_members_0_is_unlimited);
    tcase_add_test(tc, test_leaving_from_head_middle_and_tail_keeps_the_others);
    tcase_add_test(tc, test_leave_twice_or_without_a_room_does_nothing);
    tcase_add_test(tc, test_foreach_may_take_the_current_member_out);
    tcase_add_test(tc, test_ten_thousand_rooms_join_find_and_leave_in_any_order);
    tcase_add_test(tc, test_free_with_members_leaves_them_in_no_room);
    tcase_add_test(tc, test_free_null_is_a_no_op);
    suite_add_tcase(s, tc);

    tc = tcase_create("delivery");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_publish_reaches_every_other_member_once_and_not_the_sender);
    tcase_add_test(tc, test_publish_with_include_sender_reaches_the_sender_too);
    tcase_add_test(tc, test_publish_stays_in_the_senders_room);
    tcase_add_test(tc, test_publish_frames_each_message_once);
    tcase_add_test(tc, test_publish_to_nobody_frames_nothing);
    tcase_add_test(tc, test_publish_counts_slow_and_closing_receivers_and_goes_on);
    tcase_add_test(tc, test_publish_out_of_memory_sends_nothing);
    tcase_add_test(tc, test_deliver_reaches_all_but_except_and_adds_to_the_tally);
    suite_add_tcase(s, tc);
    return s;
}
