/* Opens argv[1] (fd 3), reads, closes; opens argv[2] (fd 3 again), reads,
 * and keeps it open for 300 ms before exiting.  A tracer's -y must show
 * each read with the file the fd referred to at the time of the call. */
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char buf[16];
    if (argc < 3)
        return 2;
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf) < 0)
        return 3;
    close(fd);
    fd = open(argv[2], O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf) < 0)
        return 4;
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return 0;
}
