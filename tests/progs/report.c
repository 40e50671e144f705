/* Writes a report and says it succeeded -- without checking write(): the
   unhandled-ENOSPC bug the pytest plugin example finds. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    const char *text = "total: 42\n";
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror("open"); return 1; }
    write(fd, text, strlen(text));   /* the bug: the result is ignored */
    close(fd);
    printf("report saved\n");
    return 0;
}
