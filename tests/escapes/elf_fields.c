/* elf_fields: ELF and #! files whose fields the kernel reads otherwise than a
 * careless tracer, each pointing at an interpreter that exists only on the host.
 *
 *   elf_fields payload HOSTDIR MARKER   (run on the host by the test) writes
 *       HOSTDIR/interp64 and HOSTDIR/interp32: tiny programs (x86-64, i386) that
 *       print "ARGV0 = ESCAPED MARKER" -- run as an ELF interpreter, ARGV0 is the
 *       label the crafted program was started with.
 *   elf_fields run HOSTDIR DIR          writes crafted files into DIR (a directory
 *       of the guest) and execs each in a child, argv[0] = its label; each label
 *       prints one line: ESCAPED (the host's interpreter ran), CONTAINED (a guest
 *       program ran), the exec's errno, or KILLED.
 *
 * The files: an x86-64 ELF whose EI_CLASS says 32-bit (or none) -- binfmt_elf reads
 * only e_machine; a PT_INTERP of exactly PATH_MAX bytes; two PT_INTERPs (the first
 * counts); PT_INTERP without its NUL, of size 1, past the end of the file; e_phoff
 * that overflows; x32-style 32-bit headers with e_machine x86-64; an i386 ELF whose
 * EI_CLASS says 64-bit (compat_binfmt_elf does not read it either); a PT_INTERP
 * that is a #! script, or an ELF with its own PT_INTERP (the kernel ignores an
 * interpreter's PT_INTERP; a tracer that runs the loader as the program must not);
 * a #! line longer than BINPRM_BUF_SIZE; #! nesting five and six deep.
 * Natively: the host's interpreter runs wherever the kernel takes the path
 * (ESCAPED); the others fail as the kernel says (ENOEXEC, EIO, ELIBBAD, ELOOP).
 * Under veil: no label is ESCAPED; the interpreter is looked for in the guest
 * (ENOENT) and what veil cannot read as the kernel does is refused and reported.
 */
#include "esc.h"
#include "elfcraft.h"
#include <sys/wait.h>

/* what to vary in a crafted 64-bit-layout program */
struct opts {
    int cls;               /* EI_CLASS */
    int machine;
    int phentsize;         /* 0: sizeof(Elf64_Phdr) */
    uint64_t phoff;        /* 0: right after the header */
    int phnum_zero;
    const char *interp[2]; /* PT_INTERPs (NULL: none) */
    int interp_size;       /* p_filesz of the first: 0 = strlen + 1; -1: strlen (no NUL) */
    int interp_past_end;   /* the first PT_INTERP's offset lies past the file's end */
    const char *msg;       /* what its own code prints (it runs when no interpreter is taken) */
};

static void elf64(const char *path, const struct opts *o)
{
    static struct img m;
    memset(&m, 0, sizeof m);
    Elf64_Ehdr eh;
    memset(&eh, 0, sizeof eh);
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = (unsigned char)o->cls;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = (uint16_t)o->machine;
    eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = (uint16_t)(o->phentsize ? o->phentsize : (int)sizeof(Elf64_Phdr));
    int nph = 1 + (o->interp[0] != NULL) + (o->interp[1] != NULL);
    eh.e_phnum = (uint16_t)(o->phnum_zero ? 0 : nph);
    eh.e_phoff = o->phoff ? o->phoff : sizeof eh;
    put(&m, &eh, sizeof eh);
    Elf64_Phdr ph[3];
    memset(ph, 0, sizeof ph);
    size_t phat = put(&m, ph, sizeof(Elf64_Phdr) * (size_t)nph);
    int k = 0;
    for (int i = 0; i < 2; i++) {
        if (!o->interp[i])
            continue;
        size_t len = strlen(o->interp[i]) + 1;
        size_t size = i == 0 && o->interp_size > 0 ? (size_t)o->interp_size
                      : i == 0 && o->interp_size < 0 ? len - 1 : len;
        size_t at = m.n;
        put(&m, o->interp[i], len);
        while (m.n < at + size)
            m.b[m.n++] = 0;
        ph[k].p_type = PT_INTERP;
        ph[k].p_offset = i == 0 && o->interp_past_end ? 1u << 20 : at;
        ph[k].p_filesz = ph[k].p_memsz = size;
        ph[k].p_flags = PF_R;
        ph[k].p_align = 1;
        k++;
    }
    size_t entry = put_code(&m, 0, 0, o->msg);
    ph[k].p_type = PT_LOAD;
    ph[k].p_vaddr = ph[k].p_paddr = BASE;
    ph[k].p_filesz = ph[k].p_memsz = m.n;
    ph[k].p_flags = PF_R | PF_X;
    ph[k].p_align = 0x1000;
    memcpy(m.b + phat, ph, sizeof(Elf64_Phdr) * (size_t)nph);
    eh.e_entry = BASE + entry;
    memcpy(m.b, &eh, sizeof eh);
    if (o->phentsize == (int)sizeof(Elf32_Phdr)) { /* an x32-style table: 32-bit entries */
        Elf32_Phdr p32[3];
        memset(p32, 0, sizeof p32);
        for (int i = 0; i < nph; i++) {
            p32[i].p_type = ph[i].p_type, p32[i].p_offset = (uint32_t)ph[i].p_offset;
            p32[i].p_vaddr = p32[i].p_paddr = (uint32_t)ph[i].p_vaddr;
            p32[i].p_filesz = p32[i].p_memsz = (uint32_t)ph[i].p_filesz;
            p32[i].p_flags = ph[i].p_flags, p32[i].p_align = (uint32_t)ph[i].p_align;
        }
        memcpy(m.b + phat, p32, sizeof(Elf32_Phdr) * (size_t)nph);
    }
    save(path, &m);
}

/* an i386 program (Elf32 layout) with PT_INTERP, whatever its EI_CLASS says */
static void elf32(const char *path, int cls, const char *interp)
{
    static struct img m;
    memset(&m, 0, sizeof m);
    Elf32_Ehdr eh;
    memset(&eh, 0, sizeof eh);
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = (unsigned char)cls;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_386;
    eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = sizeof(Elf32_Phdr);
    eh.e_phnum = interp ? 2 : 1;
    eh.e_phoff = sizeof eh;
    put(&m, &eh, sizeof eh);
    Elf32_Phdr ph[2];
    memset(ph, 0, sizeof ph);
    size_t phat = put(&m, ph, sizeof(Elf32_Phdr) * eh.e_phnum);
    int k = 0;
    if (interp) {
        size_t len = strlen(interp) + 1;
        ph[0].p_type = PT_INTERP;
        ph[0].p_offset = (uint32_t)put(&m, interp, len);
        ph[0].p_filesz = ph[0].p_memsz = (uint32_t)len;
        ph[0].p_flags = PF_R;
        ph[0].p_align = 1;
        k = 1;
    }
    size_t entry = put_code(&m, 1, 1, " = CONTAINED no interpreter\n");
    ph[k].p_type = PT_LOAD;
    ph[k].p_vaddr = ph[k].p_paddr = BASE;
    ph[k].p_filesz = ph[k].p_memsz = (uint32_t)m.n;
    ph[k].p_flags = PF_R | PF_X;
    ph[k].p_align = 0x1000;
    memcpy(m.b + phat, ph, sizeof(Elf32_Phdr) * eh.e_phnum);
    eh.e_entry = (uint32_t)(BASE + entry);
    memcpy(m.b, &eh, sizeof eh);
    save(path, &m);
}

static void text(const char *path, const char *content)
{
    static struct img m;
    m.n = 0;
    put(&m, content, strlen(content));
    save(path, &m);
}

/* exec path with argv[0] = label in a child; one line for the label */
static void attempt(const char *label, const char *path)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {(char *)label, NULL};
        char *envp[] = {NULL};
        execve(path, argv, envp);
        printf("%s = %s\n", label, ename(errno));
        fflush(stdout);
        _exit(1);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0) {
        printf("%s = %s\n", label, ename(errno));
    } else if (WIFSIGNALED(st)) {
        printf("%s = KILLED by signal %d\n", label, WTERMSIG(st));
    }
    fflush(stdout);
}

static const char *in(const char *dir, const char *name)
{
    static char bufs[16][4096];
    static int next;
    char *b = bufs[next++ % 16];
    snprintf(b, 4096, "%s/%s", dir, name);
    return b;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "payload") == 0) {
        char msg[512];
        snprintf(msg, sizeof msg, " = ESCAPED %s\n", argv[3]);
        static struct img m;
        /* interp64: one PT_LOAD, the code prints argv[0] and the marker */
        Elf64_Ehdr eh = elf64_header(1);
        Elf64_Phdr ph = {0};
        m.n = 0;
        put(&m, &eh, sizeof eh);
        put(&m, &ph, sizeof ph);
        size_t entry = put_code(&m, 0, 1, msg);
        ph.p_type = PT_LOAD, ph.p_vaddr = ph.p_paddr = 0x20000000u;
        ph.p_filesz = ph.p_memsz = m.n, ph.p_flags = PF_R | PF_X, ph.p_align = 0x1000;
        eh.e_entry = 0x20000000u + entry;
        memcpy(m.b, &eh, sizeof eh);
        memcpy(m.b + sizeof eh, &ph, sizeof ph);
        save(in(argv[2], "interp64"), &m);
        /* interp32: the same for i386 */
        Elf32_Ehdr e32 = {0};
        memcpy(e32.e_ident, ELFMAG, SELFMAG);
        e32.e_ident[EI_CLASS] = ELFCLASS32, e32.e_ident[EI_DATA] = ELFDATA2LSB;
        e32.e_ident[EI_VERSION] = EV_CURRENT;
        e32.e_type = ET_EXEC, e32.e_machine = EM_386, e32.e_version = EV_CURRENT;
        e32.e_ehsize = sizeof e32, e32.e_phentsize = sizeof(Elf32_Phdr), e32.e_phnum = 1;
        e32.e_phoff = sizeof e32;
        Elf32_Phdr p32 = {0};
        m.n = 0;
        put(&m, &e32, sizeof e32);
        put(&m, &p32, sizeof p32);
        entry = put_code(&m, 1, 1, msg);
        p32.p_type = PT_LOAD, p32.p_vaddr = p32.p_paddr = 0x20000000u;
        p32.p_filesz = p32.p_memsz = (uint32_t)m.n, p32.p_flags = PF_R | PF_X;
        p32.p_align = 0x1000;
        e32.e_entry = (uint32_t)(0x20000000u + entry);
        memcpy(m.b, &e32, sizeof e32);
        memcpy(m.b + sizeof e32, &p32, sizeof p32);
        save(in(argv[2], "interp32"), &m);
        return 0;
    }
    if (argc != 4 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: elf_fields payload HOSTDIR MARKER | run HOSTDIR DIR\n");
        return 2;
    }
    const char *host = argv[2], *dir = argv[3];
    char h64[4096], h32[4096];
    snprintf(h64, sizeof h64, "%s/interp64", host);
    snprintf(h32, sizeof h32, "%s/interp32", host);
    char path[4200];
    struct opts o;
#define CASE(label, ...)                                                                  \
    do {                                                                                  \
        o = (struct opts){ELFCLASS64, EM_X86_64, 0, 0, 0, {NULL, NULL}, 0, 0,             \
                          label " = CONTAINED no interpreter\n"};                         \
        __VA_ARGS__;                                                                      \
        snprintf(path, sizeof path, "%s/elf-%d", dir, __LINE__);                          \
        elf64(path, &o);                                                                  \
        attempt(label, path);                                                             \
    } while (0)

    /* the route of issue 17: EI_CLASS is not read by binfmt_elf */
    CASE("class64", o.interp[0] = h64);
    CASE("class32", o.interp[0] = h64, o.cls = ELFCLASS32);
    CASE("classnone", o.interp[0] = h64, o.cls = ELFCLASSNONE);
    CASE("class3", o.interp[0] = h64, o.cls = 3);
    /* PT_INTERP as the kernel reads it: the first, with its stated size */
    CASE("interp PATH_MAX bytes", o.interp[0] = h64, o.interp_size = 4096);
    CASE("two interps", o.interp[0] = h64, o.interp[1] = "/nonexistent/ld.so");
    CASE("interp without NUL", o.interp[0] = h64, o.interp_size = -1);
    CASE("interp size 1", o.interp[0] = "", o.interp_size = 1);
    CASE("interp past end", o.interp[0] = h64, o.interp_past_end = 1);
    /* program headers binfmt_elf rejects (compat_binfmt_elf, built with x32, takes them) */
    CASE("phoff overflow", o.interp[0] = h64, o.phoff = 0xffffffffffffff00ull);
    CASE("phoff past end", o.interp[0] = h64, o.phoff = 1u << 20);
    CASE("x32 headers", o.interp[0] = h64, o.cls = ELFCLASS32, o.phentsize = sizeof(Elf32_Phdr));
    CASE("phnum 0", o.interp[0] = h64, o.phnum_zero = 1);
    CASE("machine aarch64", o.interp[0] = h64, o.machine = EM_AARCH64);

    /* i386 (compat_binfmt_elf): EI_CLASS is not read either */
    elf32(in(dir, "i386-64"), ELFCLASS64, h32);
    attempt("i386 class64", in(dir, "i386-64"));
    elf32(in(dir, "i386-32"), ELFCLASS32, h32);
    attempt("i386 class32", in(dir, "i386-32"));

    /* the loader: a #! script, an ELF with a PT_INTERP of its own, a plain one */
    snprintf(path, sizeof path, "#!%s\n", h64);
    text(in(dir, "ld-script"), path);
    CASE("loader is a script", o.interp[0] = in(dir, "ld-script"));
    o = (struct opts){ELFCLASS64, EM_X86_64, 0, 0, 0, {h64, NULL}, 0, 0,
                      "loader with PT_INTERP = CONTAINED loader ran\n"};
    elf64(in(dir, "ld-interp"), &o);
    CASE("loader with PT_INTERP", o.interp[0] = in(dir, "ld-interp"));
    o = (struct opts){ELFCLASS64, EM_X86_64, 0, 0, 0, {NULL, NULL}, 0, 0,
                      "plain loader = CONTAINED loader ran\n"};
    elf64(in(dir, "ld-plain"), &o);
    CASE("plain loader", o.interp[0] = in(dir, "ld-plain"));

    /* #! lines as binfmt_script reads them */
    snprintf(path, sizeof path, "#!%s\n", h64);
    text(in(dir, "script-host"), path);
    attempt("script host", in(dir, "script-host"));
    char line[4200];
    snprintf(line, sizeof line, "#!%s/", dir);
    while (strlen(line) < 400)
        strcat(line, "x");
    strcat(line, "\n");
    text(in(dir, "script-long"), line);
    attempt("script long line", in(dir, "script-long"));
    /* five levels of #! reach a guest program; six are too many (ELOOP) */
    o = (struct opts){ELFCLASS64, EM_X86_64, 0, 0, 0, {NULL, NULL}, 0, 0,
                      "nested 5 = CONTAINED end of chain\n"};
    elf64(in(dir, "chain-end"), &o);
    const char *prev = in(dir, "chain-end");
    char names[6][64];
    for (int i = 0; i < 6; i++) {
        snprintf(names[i], sizeof names[i], "chain-%d", i + 1);
        snprintf(line, sizeof line, "#!%s\n", prev);
        text(in(dir, names[i]), line);
        prev = in(dir, names[i]);
    }
    attempt("nested 5", in(dir, "chain-5"));
    attempt("nested 6", in(dir, "chain-6"));
    return 0;
}
