/* sigaction over wasi-libc's emulated signal(): see include/signal.h. */
#include <errno.h>
#include <signal.h>
#include <string.h>

int sigaction(int sig, const struct sigaction *restrict act, struct sigaction *restrict oldact)
{
    void (*prev)(int) = signal(sig, act != NULL ? act->sa_handler : SIG_DFL);
    if (prev == SIG_ERR) {
        return -1;
    }
    if (act == NULL) {
        signal(sig, prev); /* only asking: put it back */
    }
    if (oldact != NULL) {
        memset(oldact, 0, sizeof *oldact);
        oldact->sa_handler = prev;
    }
    return 0;
}
