/* Decoding corpus: poll/ppoll/select/pselect6, epoll_*, timerfd_*, signalfd4.
 * Every wait either has data ready or a zero timeout, so nothing depends on
 * timing.  Prints nothing. */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
    int p[2];
    pipe(p);
    write(p[1], "x", 1);

    struct pollfd fds[3] = {{p[0], POLLIN | POLLPRI, 0}, {p[1], POLLOUT, 0}, {-1, POLLIN, 0}};
    poll(fds, 3, 0);
    poll(fds + 2, 1, 0);
    poll(NULL, 0, 0);
    struct timespec ts0 = {0, 0};
    ppoll(fds, 2, &ts0, NULL);
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGUSR2);
    ppoll(fds + 1, 1, NULL, &ss);

    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(p[0], &r);
    FD_SET(p[1], &w);
    struct timeval tv = {0, 0};
    select(p[1] + 1, &r, &w, NULL, &tv);
    FD_ZERO(&r);
    FD_SET(p[1], &r);
    tv.tv_sec = 0;
    tv.tv_usec = 0;
    select(p[1] + 1, &r, NULL, NULL, &tv);
    select(0, NULL, NULL, NULL, &tv);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    tv.tv_sec = 0;
    tv.tv_usec = 0;
    syscall(SYS_select, p[0] + 1, &r, NULL, NULL, &tv);
    syscall(SYS_select, 0, NULL, NULL, NULL, &tv);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timespec pts = {0, 0};
    pselect(p[0] + 1, &r, NULL, NULL, &pts, &ss);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    pselect(p[0] + 1, &r, NULL, NULL, NULL, NULL);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 0x1122334455667788ULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    ev.events = EPOLLOUT;
    ev.data.fd = p[1];
    epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev);
    ev.events = EPOLLIN | EPOLLRDHUP;
    epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
    struct epoll_event out[4];
    epoll_wait(ep, out, 4, 0);
    epoll_pwait(ep, out, 1, 0, &ss);
    struct timespec t0 = {0, 0};
    syscall(SYS_epoll_pwait2, ep, out, 4, &t0, NULL, 8);
    epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL);
    epoll_ctl(ep, EPOLL_CTL_DEL, 99, NULL);
    close(ep);
    syscall(SYS_epoll_create, 8);

    int tf = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct itimerspec its = {{0, 0}, {1000, 500}};
    struct itimerspec old;
    struct itimerspec zero = {{0, 0}, {0, 0}};
    timerfd_settime(tf, 0, &zero, &old);
    timerfd_settime(tf, 0, &its, NULL);
    timerfd_settime(tf, 0, &zero, NULL);
    timerfd_gettime(tf, &old);
    struct itimerspec abs = {{1, 0}, {0, 0}};
    timerfd_settime(tf, TFD_TIMER_ABSTIME, &abs, NULL);
    unsigned long long ticks;
    read(tf, &ticks, sizeof ticks);
    close(tf);
    timerfd_create(CLOCK_REALTIME, 0);

    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    sigaddset(&m, SIGCHLD);
    sigprocmask(SIG_BLOCK, &m, NULL);
    int sf = signalfd(-1, &m, SFD_CLOEXEC | SFD_NONBLOCK);
    sigaddset(&m, SIGRTMIN + 2);
    signalfd(sf, &m, 0);
    kill(getpid(), SIGUSR1);
    siginfo_t info;
    struct timespec z = {0, 0};
    sigtimedwait(&m, &info, &z);
    sigtimedwait(&m, &info, &z); /* EAGAIN */
    close(sf);
    return 0;
}
