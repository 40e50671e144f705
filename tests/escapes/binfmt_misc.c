/* binfmt_misc HOSTINTERP DIR: a binfmt_misc rule makes the kernel start its
 * interpreter, a path it resolves on the host, before binfmt_script and
 * binfmt_elf look at the file.  The program registers a rule for names ending
 * in ".veilesc" whose interpreter is HOSTINTERP (a host-only program that prints
 * the host secret, elf_fields payload): the path is data written to
 * /proc/sys/fs/binfmt_misc/register, never a path argument a tracer translates.
 * Then it writes DIR/prog.veilesc (a static ELF that prints "CONTAINED") and
 * execs it, and removes the rule.  The test runs it in a user namespace with its
 * own binfmt_misc (Linux >= 6.7), so the rule never reaches the host's.
 *   register = OK | ENAME       ext = ESCAPED ... | CONTAINED ... | ENAME | KILLED ...
 * Natively: the host's interpreter runs ("HOSTINTERP = ESCAPED <secret>").
 * Under veil: an exec a rule takes is refused (EACCES, reported); a rule veil
 * cannot see (binfmt_misc hidden from it) gets the process killed before its
 * first instruction: the kernel ran another file than veil checked.
 */
#include "esc.h"
#include "elfcraft.h"
#include <sys/wait.h>

#define MISC "/proc/sys/fs/binfmt_misc"

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    char rule[4200], path[4200];
    snprintf(rule, sizeof rule, ":veilesc:E::veilesc::%s:", argv[1]);
    int registered = write_file(MISC "/register", rule) == 0;
    printf("register = %s\n", registered ? "OK" : ename(errno));
    fflush(stdout);

    static struct img m;
    Elf64_Ehdr eh = elf64_header(1);
    Elf64_Phdr ph = {0};
    put(&m, &eh, sizeof eh);
    put(&m, &ph, sizeof ph);
    size_t entry = put_code(&m, 0, 0, "ext = CONTAINED static\n");
    ph.p_type = PT_LOAD, ph.p_vaddr = ph.p_paddr = BASE;
    ph.p_filesz = ph.p_memsz = m.n, ph.p_flags = PF_R | PF_X, ph.p_align = 0x1000;
    eh.e_entry = BASE + entry;
    memcpy(m.b, &eh, sizeof eh);
    memcpy(m.b + sizeof eh, &ph, sizeof ph);
    snprintf(path, sizeof path, "%s/prog.veilesc", argv[2]);
    save(path, &m);

    pid_t pid = fork();
    if (pid == 0) {
        char *av[] = {"ext", NULL}, *ev[] = {NULL};
        execve(path, av, ev);
        printf("ext = %s\n", ename(errno));
        fflush(stdout);
        _exit(1);
    }
    int st = 0;
    if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFSIGNALED(st))
        printf("ext = KILLED by signal %d\n", WTERMSIG(st));
    fflush(stdout);
    if (registered && write_file(MISC "/veilesc", "-1") < 0)
        printf("unregister = %s\n", ename(errno));
    return 0;
}
