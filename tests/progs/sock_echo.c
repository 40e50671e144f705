/* An epoll echo server and a threaded client, for the socket table tests.
 *
 *   sock_echo server NCLIENTS
 *       listen on 127.0.0.1:0 (non-blocking, backlog 64), print "port P" and
 *       serve with one epoll loop until NCLIENTS connections were accepted and
 *       all of them closed (read returned 0); then print "done accepted=N" and
 *       wait for a line (or EOF) on stdin before exiting, so that a test can
 *       take a snapshot while the listening socket and the epoll set are alive.
 *   sock_echo client PORT NTHREADS MSGS LEN
 *       NTHREADS threads each connect, send MSGS messages of LEN bytes, read
 *       each echo back in full and check it; exit 0 when all were right.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXFD 4096

struct conn {
    char *buf;       /* bytes read and not yet echoed */
    size_t len, cap;
    int out_armed;
};

static struct conn conns[MAXFD];

static void die(const char *what) { perror(what); exit(2); }

static int flush_conn(int ep, int fd) {
    struct conn *c = &conns[fd];
    while (c->len > 0) {
        ssize_t n = write(fd, c->buf, c->len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!c->out_armed) {
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
                    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) die("epoll_ctl mod");
                    c->out_armed = 1;
                }
                return 0;
            }
            return -1;
        }
        memmove(c->buf, c->buf + n, c->len - n);
        c->len -= n;
    }
    if (c->out_armed) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) die("epoll_ctl mod");
        c->out_armed = 0;
    }
    return 0;
}

static int server(int nclients) {
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (ls < 0) die("socket");
    int one = 1;
    if (setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) die("setsockopt");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(ls, 64) < 0) die("listen");
    socklen_t al = sizeof a;
    if (getsockname(ls, (struct sockaddr *)&a, &al) < 0) die("getsockname");
    printf("port %d\n", ntohs(a.sin_port));
    fflush(stdout);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev) < 0) die("epoll_ctl add");

    int accepted = 0, closed = 0;
    struct epoll_event evs[64];
    char tmp[65536];
    while (closed < nclients) {
        int n = epoll_wait(ep, evs, 64, 20000);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        if (n == 0) { fprintf(stderr, "server: idle 20 s, accepted %d closed %d\n", accepted, closed); return 3; }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                for (;;) {
                    int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                    if (c < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                        if (errno == EINTR) continue;
                        die("accept4");
                    }
                    if (c >= MAXFD) { fprintf(stderr, "fd too big\n"); return 4; }
                    accepted++;
                    conns[c].len = 0;
                    conns[c].out_armed = 0;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0) die("epoll_ctl add conn");
                }
                continue;
            }
            int gone = 0;
            if (evs[i].events & EPOLLOUT) {
                if (flush_conn(ep, fd) < 0) gone = 1;
            }
            if (!gone && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                for (;;) {
                    ssize_t r = read(fd, tmp, sizeof tmp);
                    if (r < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                        if (errno == EINTR) continue;
                        gone = 1;
                        break;
                    }
                    if (r == 0) { gone = 1; break; }
                    struct conn *c = &conns[fd];
                    if (c->len + r > c->cap) {
                        c->cap = (c->len + r) * 2;
                        c->buf = realloc(c->buf, c->cap);
                        if (!c->buf) die("realloc");
                    }
                    memcpy(c->buf + c->len, tmp, r);
                    c->len += r;
                    if (flush_conn(ep, fd) < 0) { gone = 1; break; }
                }
            }
            if (gone) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
                conns[fd].len = 0;
                closed++;
            }
        }
    }
    printf("done accepted=%d\n", accepted);
    fflush(stdout);
    char line[16];
    while (read(0, line, sizeof line) > 0) {
        if (memchr(line, '\n', sizeof line)) break;
    }
    close(ep);
    close(ls);
    return 0;
}

static int g_port, g_msgs, g_len;

static void *client_thread(void *arg) {
    long id = (long)arg;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) { perror("client socket"); return (void *)1; }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return (void *)1; }
    char *out = malloc(g_len), *in = malloc(g_len);
    for (int m = 0; m < g_msgs; m++) {
        for (int k = 0; k < g_len; k++) out[k] = (char)('a' + (id + m + k) % 26);
        size_t off = 0;
        while (off < (size_t)g_len) {
            ssize_t n = send(s, out + off, g_len - off, 0);
            if (n < 0) { if (errno == EINTR) continue; perror("send"); return (void *)1; }
            off += n;
        }
        off = 0;
        while (off < (size_t)g_len) {
            ssize_t n = recv(s, in + off, g_len - off, 0);
            if (n < 0) { if (errno == EINTR) continue; perror("recv"); return (void *)1; }
            if (n == 0) { fprintf(stderr, "client %ld: early EOF\n", id); return (void *)1; }
            off += n;
        }
        if (memcmp(in, out, g_len) != 0) { fprintf(stderr, "client %ld: bad echo\n", id); return (void *)1; }
    }
    close(s);
    free(out);
    free(in);
    return NULL;
}

static int client(int port, int nthreads, int msgs, int len) {
    g_port = port; g_msgs = msgs; g_len = len;
    pthread_t *t = calloc(nthreads, sizeof *t);
    for (long i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], NULL, client_thread, (void *)i) != 0) die("pthread_create");
    int bad = 0;
    for (int i = 0; i < nthreads; i++) {
        void *r;
        pthread_join(t[i], &r);
        if (r) bad++;
    }
    printf("clients ok=%d bad=%d\n", nthreads - bad, bad);
    return bad ? 1 : 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "server") == 0) return server(atoi(argv[2]));
    if (argc == 6 && strcmp(argv[1], "client") == 0)
        return client(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: %s server N | client PORT NTHREADS MSGS LEN\n", argv[0]);
    return 2;
}
