/* seccomp_old_calls FILE PROGRAM: the program's own seccomp filter knows no
 * openat2 or execveat (ENOSYS, as a sandbox written before them would answer):
 * the opens and execs veil makes of its open/execve still work, the plain way.
 * Under veil --strict: "open = CONTAINED <FILE's first line>", PROGRAM runs, and
 * one line says the symlink-swap protection is off for it. */
#define ESC_SECCOMP
#include "esc.h"
#include <sys/syscall.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execveat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    if (own_filter(f, sizeof f / sizeof f[0], 0) < 0) {
        say("install", -1, "");
        return 1;
    }
    say_fd("open", open(argv[1], O_RDONLY), NULL);
    char *args[] = {argv[2], NULL};
    execv(argv[2], args);
    say("execv", -1, "");
    return 1;
}
