/* Allocates (and touches) 1 MiB blocks until malloc fails, as a program
 * under RLIMIT_AS does.  argv[1] = "report" (default): print how many MiB it
 * got and "ENOMEM", exit 3; "abort": abort() at the failure, as a program
 * with an xmalloc() does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int do_abort = argc > 1 && strcmp(argv[1], "abort") == 0;
    size_t mib = 0;
    for (;;) {
        char *p = malloc(1 << 20);
        if (p == NULL)
            break;
        memset(p, 1, 1 << 20);
        mib++;
        if (mib > (1 << 16)) {  /* 64 GiB and no limit: not what the test meant */
            printf("no limit\n");
            return 1;
        }
    }
    int err = errno;
    if (do_abort)
        abort();
    printf("%zu MiB then %s\n", mib, err == ENOMEM ? "ENOMEM" : strerror(err));
    return 3;
}
