/* read, write, lseek, ftruncate and close for the SDK's descriptors (GPIOs, timers, the mutable
   file, connections). Any other descriptor goes to WASI as wasi-libc's own functions would send
   it. These definitions take the place of wasi-libc's because applibs is linked before c. */
#include <errno.h>
#include <unistd.h>
#include <wasi/api.h>

#include "internal.h"

#undef lseek /* wasi-libc's macro sends lseek(fd, 0, SEEK_CUR) to __wasilibc_tell, below */

ssize_t rampart_timer_read(struct rampart_timer *t, void *buf, size_t n);
ssize_t rampart_mutable_read(struct rampart_mutable *m, void *buf, size_t n);
ssize_t rampart_mutable_write(struct rampart_mutable *m, const void *buf, size_t n);
off_t rampart_mutable_seek(struct rampart_mutable *m, off_t off, int whence);
int rampart_mutable_truncate(struct rampart_mutable *m, off_t len);
void rampart_mutable_close(struct rampart_mutable *m);
ssize_t rampart_conn_read(struct rampart_fd *f, void *buf, size_t n);
ssize_t rampart_conn_write(struct rampart_fd *f, const void *buf, size_t n);
void rampart_conn_close(struct rampart_fd *f);

static int wasi_fail(__wasi_errno_t e)
{
    errno = e;
    return -1;
}

ssize_t read(int fd, void *buf, size_t n)
{
    struct rampart_fd *f = rampart_fd_get(fd);
    if (f == NULL) {
        __wasi_iovec_t iov = {.buf = buf, .buf_len = n};
        size_t got;
        __wasi_errno_t e = __wasi_fd_read(fd, &iov, 1, &got);
        return e != 0 ? wasi_fail(e) : (ssize_t)got;
    }
    switch (f->kind) {
    case FD_TIMER:
        return rampart_timer_read(&f->timer, buf, n);
    case FD_MUTABLE:
        return rampart_mutable_read(&f->file, buf, n);
    case FD_CONN:
        return rampart_conn_read(f, buf, n);
    default:
        errno = EINVAL; /* a GPIO is read with GPIO_GetValue */
        return -1;
    }
}

ssize_t write(int fd, const void *buf, size_t n)
{
    struct rampart_fd *f = rampart_fd_get(fd);
    if (f == NULL) {
        __wasi_ciovec_t iov = {.buf = buf, .buf_len = n};
        size_t put;
        __wasi_errno_t e = __wasi_fd_write(fd, &iov, 1, &put);
        return e != 0 ? wasi_fail(e) : (ssize_t)put;
    }
    if (f->kind == FD_MUTABLE) {
        return rampart_mutable_write(&f->file, buf, n);
    }
    if (f->kind == FD_CONN) {
        return rampart_conn_write(f, buf, n);
    }
    errno = EINVAL;
    return -1;
}

off_t lseek(int fd, off_t off, int whence)
{
    struct rampart_fd *f = rampart_fd_get(fd);
    if (f == NULL) {
        __wasi_filesize_t pos;
        __wasi_errno_t e = __wasi_fd_seek(fd, off, (__wasi_whence_t)whence, &pos);
        return e != 0 ? wasi_fail(e) : (off_t)pos;
    }
    if (f->kind == FD_MUTABLE) {
        return rampart_mutable_seek(&f->file, off, whence);
    }
    errno = ESPIPE;
    return -1;
}

off_t __wasilibc_tell(int fd) { return lseek(fd, 0, SEEK_CUR); }

int ftruncate(int fd, off_t len)
{
    struct rampart_fd *f = rampart_fd_get(fd);
    if (f == NULL) {
        if (len < 0) {
            errno = EINVAL;
            return -1;
        }
        __wasi_errno_t e = __wasi_fd_filestat_set_size(fd, (__wasi_filesize_t)len);
        return e != 0 ? wasi_fail(e) : 0;
    }
    if (f->kind == FD_MUTABLE) {
        return rampart_mutable_truncate(&f->file, len);
    }
    errno = EINVAL;
    return -1;
}

int close(int fd)
{
    struct rampart_fd *f = rampart_fd_get(fd);
    if (f == NULL) {
        __wasi_errno_t e = __wasi_fd_close(fd);
        return e != 0 ? wasi_fail(e) : 0;
    }
    if (f->kind == FD_MUTABLE) {
        rampart_mutable_close(&f->file);
    }
    if (f->kind == FD_CONN) {
        rampart_conn_close(f);
    }
    rampart_fd_free(fd);
    return 0;
}
