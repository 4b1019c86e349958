/* The Rampart C SDK's error mapping and descriptor table. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "internal.h"

int rampart_errno(int32_t err)
{
    switch (err) {
    case RAMPART_ERR_DENIED:
        return EACCES;
    case RAMPART_ERR_INVALID:
        return EINVAL;
    case RAMPART_ERR_QUOTA:
        return ENOSPC;
    case RAMPART_ERR_TIMEOUT:
        return ETIMEDOUT;
    case RAMPART_ERR_NOT_FOUND:
        return ENOENT;
    case RAMPART_ERR_TOO_SMALL:
        return ERANGE;
    case RAMPART_ERR_LIMIT:
        return EMFILE;
    case RAMPART_ERR_UNAVAILABLE:
        return EAGAIN;
    case RAMPART_ERR_TLS:
        return EPROTO;
    }
    return EIO;
}

static struct rampart_fd fds[RAMPART_MAX_FDS];

int rampart_fd_alloc(enum rampart_fd_kind kind)
{
    for (int i = 0; i < RAMPART_MAX_FDS; i++) {
        if (fds[i].kind == FD_FREE) {
            memset(&fds[i], 0, sizeof fds[i]);
            fds[i].kind = kind;
            return RAMPART_FD_BASE + i;
        }
    }
    errno = EMFILE;
    return -1;
}

struct rampart_fd *rampart_fd_get(int fd)
{
    if (fd < RAMPART_FD_BASE || fd >= RAMPART_FD_BASE + RAMPART_MAX_FDS) {
        return NULL;
    }
    struct rampart_fd *f = &fds[fd - RAMPART_FD_BASE];
    return f->kind == FD_FREE ? NULL : f;
}

void rampart_fd_free(int fd)
{
    struct rampart_fd *f = rampart_fd_get(fd);
    if (f != NULL) {
        memset(f, 0, sizeof *f);
    }
}

int64_t rampart_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
