/* echo N [SIZE [send|rw]]: N round trips of SIZE bytes (default 64) over TCP
 * on 127.0.0.1, in one process: a server thread accepts one connection and
 * echoes every message back; the main thread is the client. Each round trip
 * is one send + one recv on each side (mode `send`, the default), or one
 * write + one read (mode `rw`). TCP_NODELAY on both ends.
 *
 * At the end it prints one line:
 *   echo: N round trips, B bytes each way (mode M)
 * and exits 0 only if every byte came back as it was sent. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static long rounds;
static size_t size;
static int use_rw;
static int listener;

static ssize_t put(int fd, const void *buf, size_t len)
{
    return use_rw ? write(fd, buf, len) : send(fd, buf, len, 0);
}

static ssize_t get(int fd, void *buf, size_t len)
{
    return use_rw ? read(fd, buf, len) : recv(fd, buf, len, 0);
}

/* All of len bytes, in as many calls as it takes (loopback nearly always one). */
static int put_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = put(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int get_all(int fd, char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = get(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        perror("echo: setsockopt TCP_NODELAY");
}

static void *server(void *arg)
{
    char *buf = malloc(size);
    int fd;

    (void)arg;
    fd = accept(listener, NULL, NULL);
    if (fd < 0 || !buf) {
        perror("echo: accept");
        exit(1);
    }
    nodelay(fd);
    for (long i = 0; i < rounds; i++) {
        if (get_all(fd, buf, size) != 0 || put_all(fd, buf, size) != 0) {
            perror("echo: server");
            exit(1);
        }
    }
    close(fd);
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    pthread_t tid;
    char *out, *in;
    int one = 1, fd, err;

    rounds = bench_count(argc, argv, 1, 20000);
    size = (size_t)bench_count(argc, argv, 2, 64);
    if (argc > 3 && strcmp(argv[3], "rw") == 0)
        use_rw = 1;
    else if (argc > 3 && strcmp(argv[3], "send") != 0) {
        fprintf(stderr, "echo: mode must be send or rw, not '%s'\n", argv[3]);
        return 2;
    }
    if (size == 0)
        size = 1;
    out = malloc(size);
    in = malloc(size);
    if (!out || !in)
        return 1;

    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) {
        perror("echo: socket");
        return 1;
    }
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0; /* any free port */
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &alen) != 0) {
        perror("echo: bind/listen");
        return 1;
    }
    err = pthread_create(&tid, NULL, server, NULL);
    if (err != 0) {
        fprintf(stderr, "echo: pthread_create: %s\n", strerror(err));
        return 1;
    }

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("echo: connect");
        return 1;
    }
    nodelay(fd);
    for (long i = 0; i < rounds; i++) {
        for (size_t k = 0; k < size; k++)
            out[k] = (char)(i + (long)k);
        if (put_all(fd, out, size) != 0 || get_all(fd, in, size) != 0) {
            perror("echo: client");
            return 1;
        }
        if (memcmp(out, in, size) != 0) {
            fprintf(stderr, "echo: round trip %ld came back different\n", i);
            return 1;
        }
    }
    close(fd);
    pthread_join(tid, NULL);
    close(listener);
    printf("echo: %ld round trips, %ld bytes each way (mode %s)\n", rounds, rounds * (long)size,
           use_rw ? "rw" : "send");
    return 0;
}
