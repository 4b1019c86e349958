/* applibs/storage.h's mutable file, kept whole in memory and written through to the host's
   storage file MUTABLE_NAME on every change. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <applibs/storage.h>

#include "internal.h"

#define MUTABLE_NAME "azsphere-mutable-file"
#define NAME_LEN (sizeof MUTABLE_NAME - 1)

static int fail(int32_t r)
{
    errno = rampart_errno(r);
    return -1;
}

static int load(struct rampart_mutable *m)
{
    int32_t size = rampart_storage_size(MUTABLE_NAME, NAME_LEN);
    if (size == RAMPART_ERR_NOT_FOUND) {
        int32_t r = rampart_storage_write(MUTABLE_NAME, NAME_LEN, "", 0);
        return r < 0 ? fail(r) : 0;
    }
    if (size < 0) {
        return fail(size);
    }
    m->data = malloc(size > 0 ? (size_t)size : 1);
    if (m->data == NULL) {
        errno = ENOMEM;
        return -1;
    }
    int32_t n = rampart_storage_read(MUTABLE_NAME, NAME_LEN, m->data, (uint32_t)size);
    if (n < 0) {
        free(m->data);
        m->data = NULL;
        return fail(n == RAMPART_ERR_TOO_SMALL ? RAMPART_ERR_IO : n);
    }
    m->len = m->cap = (size_t)n;
    return 0;
}

int Storage_OpenMutableFile(void)
{
    struct rampart_mutable m = {0};
    if (load(&m) < 0) {
        return -1;
    }
    int fd = rampart_fd_alloc(FD_MUTABLE);
    if (fd < 0) {
        free(m.data);
        return -1;
    }
    rampart_fd_get(fd)->file = m;
    return fd;
}

int Storage_DeleteMutableFile(void)
{
    int32_t r = rampart_storage_delete(MUTABLE_NAME, NAME_LEN);
    return r < 0 ? fail(r) : 0;
}

char *Storage_GetAbsolutePathInImagePackage(const char *relativePath)
{
    (void)relativePath;
    errno = ENOSYS;
    return NULL;
}

int Storage_OpenFileInImagePackage(const char *relativePath)
{
    (void)relativePath;
    errno = ENOSYS;
    return -1;
}

/* The descriptor operations of the mutable file, for fdio.c. */

ssize_t rampart_mutable_read(struct rampart_mutable *m, void *buf, size_t n)
{
    if (m->off >= m->len) {
        return 0;
    }
    size_t k = m->len - m->off < n ? m->len - m->off : n;
    memcpy(buf, m->data + m->off, k);
    m->off += k;
    return (ssize_t)k;
}

static int resize(struct rampart_mutable *m, size_t len)
{
    if (len > m->cap) {
        size_t cap = m->cap * 2 > len ? m->cap * 2 : len;
        unsigned char *d = realloc(m->data, cap);
        if (d == NULL) {
            errno = ENOMEM;
            return -1;
        }
        m->data = d;
        m->cap = cap;
    }
    if (len > m->len) {
        memset(m->data + m->len, 0, len - m->len);
    }
    m->len = len;
    return 0;
}

/* commit stores the whole file; on failure the file is put back as it was. */
static int commit(struct rampart_mutable *m, size_t old_len)
{
    int32_t r = rampart_storage_write(MUTABLE_NAME, NAME_LEN, m->data, (uint32_t)m->len);
    if (r < 0) {
        m->len = old_len; /* the bytes past a shrink are still in the buffer */
        return fail(r);
    }
    return 0;
}

ssize_t rampart_mutable_write(struct rampart_mutable *m, const void *buf, size_t n)
{
    size_t old_len = m->len, end = m->off + n;
    if (end < m->off) {
        errno = EFBIG;
        return -1;
    }
    unsigned char *saved = NULL;
    if (m->off < old_len) { /* keep what the write covers, to undo it if the host refuses */
        size_t k = old_len - m->off < n ? old_len - m->off : n;
        saved = malloc(k ? k : 1);
        if (saved == NULL) {
            errno = ENOMEM;
            return -1;
        }
        memcpy(saved, m->data + m->off, k);
    }
    if (end > m->len && resize(m, end) < 0) {
        free(saved);
        return -1;
    }
    memcpy(m->data + m->off, buf, n);
    if (commit(m, old_len) < 0) {
        if (saved != NULL) {
            memcpy(m->data + m->off, saved, old_len - m->off < n ? old_len - m->off : n);
        }
        free(saved);
        return -1;
    }
    free(saved);
    m->off = end;
    return (ssize_t)n;
}

off_t rampart_mutable_seek(struct rampart_mutable *m, off_t off, int whence)
{
    off_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (off_t)m->off : (off_t)m->len;
    if ((whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) || base + off < 0) {
        errno = EINVAL;
        return -1;
    }
    m->off = (size_t)(base + off);
    return (off_t)m->off;
}

int rampart_mutable_truncate(struct rampart_mutable *m, off_t len)
{
    if (len < 0) {
        errno = EINVAL;
        return -1;
    }
    size_t old_len = m->len;
    if (resize(m, (size_t)len) < 0) {
        return -1;
    }
    return commit(m, old_len);
}

void rampart_mutable_close(struct rampart_mutable *m) { free(m->data); }
