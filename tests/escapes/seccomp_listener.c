/* seccomp_listener: install a filter with SECCOMP_FILTER_FLAG_NEW_LISTENER that
 * sends getppid to a supervisor thread (SECCOMP_RET_USER_NOTIF wins over a
 * tracer's SECCOMP_RET_TRACE: the tracer never sees such calls).
 * Natively: ESCAPED (the supervisor answers getppid with 4242).
 * Under veil: seccomp = EPERM, reported; getppid is the kernel's. */
#define ESC_SECCOMP
#include "esc.h"
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

static int listener = -1;

static void *supervise(void *arg)
{
    (void)arg;
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    memset(&req, 0, sizeof req);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
        return NULL;
    memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    resp.val = 4242;
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    return NULL;
}

int main(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    listener = (int)own_filter(f, sizeof f / sizeof f[0], SECCOMP_FILTER_FLAG_NEW_LISTENER);
    if (listener < 0) {
        say("seccomp listener", -1, "");
        return 0;
    }
    pthread_t th;
    pthread_create(&th, NULL, supervise, NULL);
    long v = syscall(SYS_getppid);
    pthread_join(th, NULL);
    printf("seccomp listener = %s getppid=%ld\n", v == 4242 ? "ESCAPED supervisor answered" :
           "CONTAINED", v);
    return 0;
}
