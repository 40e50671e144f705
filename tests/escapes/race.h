/* Races on what veil writes below the stack pointer (or wherever it puts the
 * translated path): raw system calls that use no stack, so that a helper may
 * scribble below the caller's stack pointer while it loops. */
#ifndef RACE_H
#define RACE_H
#include <stddef.h>
#include <stdint.h>

static inline __attribute__((always_inline)) long raw3(long nr, long a, long b, long c)
{
    long ret;
    register long r10 __asm__("r10") = 0;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

static inline __attribute__((always_inline)) uintptr_t stack_pointer(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    return sp;
}

/* Fill [low, high) with "////...////PATH\0": wherever a string starts inside it,
   it names PATH.  `high` is where veil's scratch starts (sp less the red zone). */
static inline void scribble(char *low, char *high, const char *path, size_t plen)
{
    size_t n = (size_t)(high - low);
    for (size_t i = 0; i + plen + 1 < n; i++)
        low[i] = '/';
    for (size_t i = 0; i < plen; i++)
        high[-1 - (long)plen + (long)i] = path[i];
    high[-1] = 0;
}

/* does buf (n bytes) hold marker? (no libc call: the stack may be scribbled on) */
static inline __attribute__((always_inline)) int holds(const char *buf, long n, const char *m,
                                                       long mlen)
{
    for (long i = 0; i + mlen <= n; i++) {
        long j = 0;
        while (j < mlen && buf[i + j] == m[j])
            j++;
        if (j == mlen)
            return 1;
    }
    return 0;
}
#endif
