/*
 * lws_echo.c - a libwebsockets echo server for bench/compare.sh.
 *
 * usage: lws_echo PORT
 * Echoes every message on any path, text as text and binary as binary,
 * in order.  No extensions (so no compression), no pings, no timeouts.
 * Messages are reassembled from lws's receive chunks, queued per
 * connection, and written from the WRITEABLE callback for as long as
 * lws_send_pipe_choked() says the socket takes more.
 */
#include <libwebsockets.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct msg {
    struct msg *next;
    size_t len;
    int binary;
    unsigned char buf[]; /* LWS_PRE bytes of headroom, then the payload */
};

struct pss {
    struct msg *head, *tail; /* complete messages to send back */
    struct msg *cur;         /* the message being received */
    size_t cur_cap;
};

static volatile int stopping;

static void
on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int
echo_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(pss, 0, sizeof(*pss));
        break;
    case LWS_CALLBACK_RECEIVE: {
        if (lws_is_first_fragment(wsi) || pss->cur == NULL) {
            size_t cap = len + lws_remaining_packet_payload(wsi);
            if (cap < 64)
                cap = 64;
            free(pss->cur);
            pss->cur = malloc(sizeof(struct msg) + LWS_PRE + cap);
            if (pss->cur == NULL)
                return -1;
            pss->cur->next = NULL;
            pss->cur->len = 0;
            pss->cur->binary = lws_frame_is_binary(wsi);
            pss->cur_cap = cap;
        }
        if (pss->cur->len + len > pss->cur_cap) {
            size_t cap = pss->cur_cap * 2 > pss->cur->len + len ? pss->cur_cap * 2
                                                                 : pss->cur->len + len;
            struct msg *m = realloc(pss->cur, sizeof(struct msg) + LWS_PRE + cap);
            if (m == NULL)
                return -1;
            pss->cur = m;
            pss->cur_cap = cap;
        }
        memcpy(pss->cur->buf + LWS_PRE + pss->cur->len, in, len);
        pss->cur->len += len;
        if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
            struct msg *m = pss->cur;
            pss->cur = NULL;
            if (pss->tail != NULL)
                pss->tail->next = m;
            else
                pss->head = m;
            pss->tail = m;
            lws_callback_on_writable(wsi);
        }
        break;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
        while (pss->head != NULL) {
            struct msg *m = pss->head;
            int n = lws_write(wsi, m->buf + LWS_PRE, m->len,
                              m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
            if (n < (int)m->len)
                return -1;
            pss->head = m->next;
            if (pss->head == NULL)
                pss->tail = NULL;
            free(m);
            if (lws_send_pipe_choked(wsi))
                break;
        }
        if (pss->head != NULL)
            lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLOSED:
        while (pss->head != NULL) {
            struct msg *m = pss->head;
            pss->head = m->next;
            free(m);
        }
        free(pss->cur);
        pss->cur = NULL;
        break;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"echo", echo_cb, sizeof(struct pss), 65536, 0, NULL, 256 * 1024},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int
main(int argc, char **argv)
{
    struct lws_context_creation_info info;
    struct lws_context *ctx;
    struct rlimit rl;

    if (argc != 2) {
        fprintf(stderr, "usage: lws_echo PORT\n");
        return 2;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    lws_set_log_level(LLL_ERR, NULL);

    memset(&info, 0, sizeof(info));
    info.port = atoi(argv[1]);
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    ctx = lws_create_context(&info);
    if (ctx == NULL) {
        fprintf(stderr, "lws_echo: cannot create the context\n");
        return 1;
    }
    while (!stopping && lws_service(ctx, 0) >= 0)
        ;
    lws_context_destroy(ctx);
    return 0;
}
