/* seccomp_trace DIR: the program stacks its own filter returning SECCOMP_RET_TRACE
 * (the newest filter's data wins between equal actions) for kill, mount and
 * getpid, with data that imitates veil's own (0x8000 | errno).  veil must decide
 * by what its own program says, not by the data of the stop:
 *   kill(tracer, 0) = EPERM and mount(DIR) = EPERM (still refused, reported),
 *   getpid = CONTAINED ok (the fake refusal is not obeyed).
 * Natively a RET_TRACE with no tracer fails the calls (ENOSYS): run under veil only. */
#define ESC_SECCOMP
#include "esc.h"
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_kill, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mount, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 3, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE), /* data 0: "nothing to refuse" */
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | 0x8000 | EPERM), /* a fake refusal */
    };
    if (own_filter(f, sizeof f / sizeof f[0], 0) < 0) {
        say("install", -1, "");
        return 1;
    }
    say("kill", kill(getppid(), 0), "the tracer can be signalled");
    say("mount", mount("none", argv[1], "tmpfs", 0, NULL), "tmpfs mounted");
    long pid = syscall(SYS_getpid);
    printf("getpid = %s\n", pid > 0 ? "CONTAINED ok" : ename(errno));
    return 0;
}
