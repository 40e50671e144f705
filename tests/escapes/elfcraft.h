/* Shared by the escape programs that craft ELF files (elf_fields, elf_race):
 * position-independent code for the crafted programs and the host-only
 * interpreters, and a buffer to build a file in. */
#ifndef ELFCRAFT_H
#define ELFCRAFT_H
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#define BASE 0x10000000u /* where the crafted programs and payloads load */

/* Code that prints argv[0] (when the flag word's bit 0 is set) and then a message,
 * and exits 0; the data follows the code: u32 flags, u32 length, message. */
extern const unsigned char blob64_start[], blob64_end[], blob32_start[], blob32_end[];
__asm__(".pushsection .text\n"
        ".globl blob64_start, blob64_end, blob32_start, blob32_end\n"
        "blob64_start:\n"
        "    mov 8(%rsp), %rsi\n"               /* argv[0] */
        "    lea blob64_end(%rip), %rbx\n"
        "    jmp 10f\n"
        ".code32\n"
        "blob32_start:\n"                       /* i386: far return into 64-bit mode */
        "    push $0x33\n"
        "    call 1f\n"
        "1:  addl $(2f - 1b), (%esp)\n"
        "    lret\n"
        ".code64\n"
        "2:  mov %esp, %esp\n"
        "    movl 4(%rsp), %esi\n"              /* argv[0], a 32-bit pointer */
        "    lea blob32_end(%rip), %rbx\n"
        "10: testl $1, (%rbx)\n"
        "    jz 12f\n"
        "    test %rsi, %rsi\n"
        "    jz 12f\n"
        "    xor %edx, %edx\n"
        "11: cmpb $0, (%rsi,%rdx)\n"
        "    je 13f\n"
        "    inc %rdx\n"
        "    jmp 11b\n"
        "13: mov $1, %eax\n"
        "    mov $1, %edi\n"
        "    syscall\n"
        "12: mov 4(%rbx), %edx\n"
        "    lea 8(%rbx), %rsi\n"
        "    mov $1, %eax\n"
        "    mov $1, %edi\n"
        "    syscall\n"
        "    mov $231, %eax\n"
        "    xor %edi, %edi\n"
        "    syscall\n"
        "    hlt\n"
        "blob64_end:\n"
        "blob32_end:\n"
        ".popsection\n");

/* a file being built */
struct img {
    unsigned char b[16384];
    size_t n;
};

/* an x86-64 ELF executable's header: phnum program headers right after it */
static inline Elf64_Ehdr elf64_header(int phnum)
{
    Elf64_Ehdr eh = {0};
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64, eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC, eh.e_machine = EM_X86_64, eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof eh, eh.e_phentsize = sizeof(Elf64_Phdr), eh.e_phnum = phnum;
    eh.e_phoff = sizeof eh;
    return eh;
}

static inline size_t put(struct img *m, const void *p, size_t len)
{
    size_t at = m->n;
    memcpy(m->b + at, p, len);
    m->n += len;
    return at;
}

/* the code (64- or 32-bit entry) and its message; returns the entry's offset */
static inline size_t put_code(struct img *m, int i386, int show_argv0, const char *msg)
{
    const unsigned char *start = i386 ? blob32_start : blob64_start;
    const unsigned char *end = i386 ? blob32_end : blob64_end;
    size_t at = put(m, start, (size_t)(end - start));
    uint32_t flags = show_argv0 ? 1 : 0, len = (uint32_t)strlen(msg);
    put(m, &flags, 4);
    put(m, &len, 4);
    put(m, msg, len);
    return at;
}

static inline int save(const char *path, const struct img *m)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0 || write(fd, m->b, m->n) != (ssize_t)m->n || close(fd) < 0) {
        perror(path);
        exit(1);
    }
    return 0;
}

#endif
