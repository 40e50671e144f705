/* auxv_probe: what getauxval and /proc/self/auxv say of this program, against what
   it is.  One line: AT_EXECFN's string, then for AT_EXECFN (the same pointer in
   /proc/self/auxv), AT_PHDR (its own program headers), AT_ENTRY (_start),
   AT_BASE (its loader's load address) and AT_PHNUM: 1 if getauxval and
   /proc/self/auxv say so, else 0. */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

extern char _start[];

static unsigned long from_proc(unsigned long type)
{
    FILE *f = fopen("/proc/self/auxv", "rb");
    unsigned long pair[2], val = (unsigned long)-1;
    if (!f)
        return val;
    while (fread(pair, sizeof pair, 1, f) == 1 && pair[0] != AT_NULL)
        if (pair[0] == type)
            val = pair[1];
    fclose(f);
    return val;
}

static int first_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    *(const ElfW(Phdr) **)data = info->dlpi_phdr;
    return 1; /* the first object is the program */
}

int main(void)
{
    const ElfW(Phdr) *phdr = NULL;
    unsigned long base = 0;
    dl_iterate_phdr(first_object, &phdr);
    for (struct link_map *map = _r_debug.r_map; map; map = map->l_next)
        if (strstr(map->l_name, "/ld-"))
            base = map->l_addr;
    unsigned long execfn = getauxval(AT_EXECFN);
    printf("execfn=%s execfn-in-proc=%d phdr=%d,%d entry=%d,%d base=%d,%d phnum=%d\n",
           execfn ? (const char *)execfn : "(none)", from_proc(AT_EXECFN) == execfn,
           getauxval(AT_PHDR) == (unsigned long)phdr, from_proc(AT_PHDR) == (unsigned long)phdr,
           getauxval(AT_ENTRY) == (unsigned long)_start,
           from_proc(AT_ENTRY) == (unsigned long)_start,
           base && getauxval(AT_BASE) == base, base && from_proc(AT_BASE) == base,
           getauxval(AT_PHNUM) == from_proc(AT_PHNUM));
    return 0;
}
