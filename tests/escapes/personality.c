/* personality: READ_IMPLIES_EXEC makes every readable mapping executable, the
 * ADDR_LIMIT flags change the address space layout of the next exec.
 * Natively: ESCAPED.  Under veil --strict: EPERM, reported. */
#include "esc.h"
#include <sys/personality.h>

int main(void)
{
    struct { const char *label; unsigned long persona; } t[] = {
        {"READ_IMPLIES_EXEC", READ_IMPLIES_EXEC},
        {"ADDR_LIMIT_32BIT", ADDR_LIMIT_32BIT},
        {"ADDR_LIMIT_3GB", ADDR_LIMIT_3GB},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        long rc = personality(t[i].persona);
        say(t[i].label, rc, "persona set");
        personality(PER_LINUX);
    }
    say("query", personality(0xffffffff), "(allowed: only reads the persona)");
    return 0;
}
