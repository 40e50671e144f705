/* dyn_hello: a dynamic program (host loader and libc) for memfd_exec */
#include <stdio.h>
int main(void)
{
    printf("execveat = ESCAPED the host's loader ran a dynamic program\n");
    return 0;
}
