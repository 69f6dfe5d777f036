/*
 * tcp_echo.c - a plain TCP echo server on epoll, for bench/compare.sh.
 *
 * usage: tcp_echo PORT
 * Sends back every byte it reads, with one read and one write per ready
 * socket per turn.  Against wsgate-bench --raw this is the floor: what the
 * load generator and the loopback reach when the server does no WebSocket
 * work at all (the physical limit for 64 KiB messages).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (256 * 1024)

struct peer {
    int fd;
    size_t off, len;      /* bytes read but not yet written back */
    int out;              /* waiting for EPOLLOUT */
    unsigned char buf[BUF];
};

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: tcp_echo PORT\n");
        return 2;
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 4096) != 0) {
        perror("tcp_echo: bind/listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct peer *p = evs[i].data.ptr;
            if (p == NULL) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct peer *np = malloc(sizeof(*np));
                    np->fd = fd;
                    np->off = np->len = 0;
                    np->out = 0;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = np};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if (p->len == 0) {
                ssize_t r = read(p->fd, p->buf, BUF);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN)
                        continue;
                    close(p->fd);
                    free(p);
                    continue;
                }
                p->off = 0;
                p->len = (size_t)r;
            }
            ssize_t w = write(p->fd, p->buf + p->off, p->len - p->off);
            if (w > 0)
                p->off += (size_t)w;
            if (p->off == p->len)
                p->len = 0;
            int want_out = p->len != 0;
            if (want_out != p->out) {
                struct epoll_event e = {.events = want_out ? EPOLLOUT : EPOLLIN, .data.ptr = p};
                epoll_ctl(ep, EPOLL_CTL_MOD, p->fd, &e);
                p->out = want_out;
            }
        }
    }
}
