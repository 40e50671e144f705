/* Decoding corpus: POSIX timers, itimers, clocks and sleeps whose printed
 * values do not depend on timing (disarmed timers, zero or past deadlines).
 * Prints nothing. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
    timer_t t1, t2;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR2;
    sev.sigev_value.sival_int = 42;
    syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &t1);
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_NONE;
    syscall(SYS_timer_create, CLOCK_REALTIME, &sev, &t2);
    syscall(SYS_timer_create, CLOCK_BOOTTIME, NULL, &t2);
    syscall(SYS_timer_create, 12345, NULL, &t2);

    struct itimerspec its = {{0, 0}, {100, 0}}, old;
    struct itimerspec zero = {{0, 0}, {0, 0}};
    syscall(SYS_timer_settime, t1, 0, &zero, &old);
    syscall(SYS_timer_settime, t1, 0, &its, NULL);
    syscall(SYS_timer_settime, t1, 0, &zero, NULL);
    syscall(SYS_timer_gettime, t1, &old);
    /* a deadline in the past fires at once; the signal is blocked and collected */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct itimerspec past = {{0, 0}, {1, 0}};
    syscall(SYS_timer_settime, t1, TIMER_ABSTIME, &past, NULL);
    siginfo_t si;
    sigwaitinfo(&set, &si);
    syscall(SYS_timer_getoverrun, t1);
    syscall(SYS_timer_delete, t1);
    syscall(SYS_timer_delete, t1);

    struct itimerval iv = {{0, 0}, {0, 0}}, oiv;
    setitimer(ITIMER_VIRTUAL, &iv, &oiv);
    getitimer(ITIMER_PROF, &oiv);
    alarm(0);
    struct timespec ts;
    clock_getres(CLOCK_REALTIME, &ts);
    syscall(SYS_clock_getres, CLOCK_MONOTONIC_COARSE, &ts);
    struct timespec zero_ts = {0, 0};
    syscall(SYS_nanosleep, &zero_ts, NULL);
    struct timespec bad = {0, 1000000000};
    syscall(SYS_nanosleep, &bad, &ts);
    syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &zero_ts, NULL);
    syscall(SYS_clock_settime, CLOCK_MONOTONIC, &zero_ts);
    struct timezone tz;
    syscall(SYS_settimeofday, NULL, NULL);
    (void)tz;
    return 0;
}
