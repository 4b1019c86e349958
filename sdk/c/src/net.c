/* rampart/net.h over the host's net_dial, net_dial_tls, net_read, net_write and net_close. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <rampart/net.h>

#include "internal.h"

#define MAX_IO (64 << 10) /* apphost.MaxIO: longer reads and writes are shortened */

static int open_conn(int32_t r)
{
    if (r < 0) {
        errno = rampart_errno(r);
        return -1;
    }
    int fd = rampart_fd_alloc(FD_CONN);
    if (fd < 0) {
        rampart_net_close(r);
        return -1;
    }
    struct rampart_fd *f = rampart_fd_get(fd);
    f->conn = r;
    f->timeout_ms = -1;
    return fd;
}

static int check_args(const char *host, int port)
{
    if (host == NULL || port <= 0 || port > 65535) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int Rampart_Connect(const char *host, int port)
{
    if (check_args(host, port) < 0) {
        return -1;
    }
    return open_conn(rampart_net_dial(host, (uint32_t)strlen(host), port));
}

int Rampart_ConnectTLS(const char *host, int port, bool deviceAuth)
{
    if (check_args(host, port) < 0) {
        return -1;
    }
    return open_conn(rampart_net_dial_tls(host, (uint32_t)strlen(host), port, deviceAuth ? 1 : 0));
}

int Rampart_SetReadTimeout(int fd, int timeout_ms)
{
    struct rampart_fd *f = rampart_fd_get(fd);
    if (f == NULL || f->kind != FD_CONN) {
        errno = EBADF;
        return -1;
    }
    if (timeout_ms < -1) {
        errno = EINVAL;
        return -1;
    }
    f->timeout_ms = timeout_ms;
    return 0;
}

ssize_t rampart_conn_read(struct rampart_fd *f, void *buf, size_t n)
{
    int32_t r = rampart_net_read(f->conn, buf, (uint32_t)(n < MAX_IO ? n : MAX_IO), f->timeout_ms);
    if (r < 0) {
        errno = r == RAMPART_ERR_TIMEOUT ? EAGAIN : rampart_errno(r);
        return -1;
    }
    return r;
}

ssize_t rampart_conn_write(struct rampart_fd *f, const void *buf, size_t n)
{
    int32_t r = rampart_net_write(f->conn, buf, (uint32_t)(n < MAX_IO ? n : MAX_IO));
    if (r < 0) {
        errno = rampart_errno(r);
        return -1;
    }
    return r;
}

void rampart_conn_close(struct rampart_fd *f) { rampart_net_close(f->conn); }
