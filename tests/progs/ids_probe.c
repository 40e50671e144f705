/* What a program sees of its ids: get*id, getgroups, the auxiliary vector the
   kernel put on its stack, and /proc/self/status and /proc/self/auxv. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(void)
{
    uid_t r, e, s;
    gid_t rg, eg, sg;
    gid_t groups[64];
    getresuid(&r, &e, &s);
    getresgid(&rg, &eg, &sg);
    printf("resuid %u %u %u resgid %u %u %u\n", r, e, s, rg, eg, sg);
    int n = getgroups(64, groups);
    printf("groups");
    for (int i = 0; i < n; i++)
        printf(" %u", groups[i]);
    printf("\nstack auxv %lu %lu %lu %lu secure %lu\n", getauxval(AT_UID), getauxval(AT_EUID),
           getauxval(AT_GID), getauxval(AT_EGID), getauxval(AT_SECURE));
    FILE *f = fopen("/proc/self/auxv", "rb");
    unsigned long pair[2], seen[4] = {0};
    while (f && fread(pair, sizeof pair, 1, f) == 1 && pair[0])
        if (pair[0] >= AT_UID && pair[0] <= AT_EGID)
            seen[pair[0] - AT_UID] = pair[1];
    if (f)
        fclose(f);
    printf("proc auxv %lu %lu %lu %lu\n", seen[0], seen[1], seen[2], seen[3]);
    char line[256];
    f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4) || !strncmp(line, "Groups:", 7))
            fputs(line, stdout);
    if (f)
        fclose(f);
    return 0;
}
