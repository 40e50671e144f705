/* fanotify_root FILE MARKER [DIR]: a filesystem-wide fanotify mark on the guest's "/"
 * (or DIR: natively, a directory on the file system that holds the guest),
 * then waits (up to 5 s) for an open event whose file holds MARKER; the test
 * opens FILE (a host-only file) meanwhile.  fanotify_init needs CAP_SYS_ADMIN.
 * Natively as root: the event's fd reads FILE = ESCAPED MARKER.
 * Under veil with a layout: fanotify_init = EPERM, reported (a mark on the
 * guest's / would cover the host's mount and file system). */
#include "esc.h"
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <sys/fanotify.h>

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4)
        return 2;
    int fa = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
    if (fa < 0) {
        say("fanotify_init", -1, "");
        return 0;
    }
    say("fanotify_mark", fanotify_mark(fa, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN,
                                       AT_FDCWD, argc == 4 ? argv[3] : "/"),
        "a mark on the whole file system");
    printf("ready\n");
    fflush(stdout);
    struct pollfd p = {fa, POLLIN, 0};
    char buf[4096];
    time_t end = time(NULL) + 5;
    while (time(NULL) < end && poll(&p, 1, 100) >= 0) {
        if (!(p.revents & POLLIN))
            continue;
        ssize_t n = read(fa, buf, sizeof buf);
        for (struct fanotify_event_metadata *m = (void *)buf; n > 0 && FAN_EVENT_OK(m, n);
             m = FAN_EVENT_NEXT(m, n)) {
            if (m->fd < 0)
                continue;
            char text[256] = {0};
            ssize_t got = pread(m->fd, text, sizeof text - 1, 0);
            close(m->fd);
            if (got > 0 && strstr(text, argv[2])) {
                text[strcspn(text, "\n")] = 0;
                printf("fanotify event = ESCAPED %s\n", text);
                return 0;
            }
        }
    }
    printf("fanotify event = CONTAINED no event of the host file\n");
    return 0;
}
