/* sys/timerfd.h emulated on the monotonic clock: WASI has no timerfd. */
#include <errno.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "internal.h"

static int64_t ts_ns(const struct timespec *ts) { return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec; }

static struct timespec ns_ts(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return ts;
}

static struct rampart_timer *timer_of(int fd)
{
    struct rampart_fd *f = rampart_fd_get(fd);
    if (f == NULL || f->kind != FD_TIMER) {
        errno = EBADF;
        return NULL;
    }
    return &f->timer;
}

int timerfd_create(clockid_t clockid, int flags)
{
    if ((clockid != CLOCK_MONOTONIC && clockid != CLOCK_REALTIME) ||
        (flags & ~(TFD_NONBLOCK | TFD_CLOEXEC)) != 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = rampart_fd_alloc(FD_TIMER);
    if (fd >= 0) {
        rampart_fd_get(fd)->timer.nonblock = (flags & TFD_NONBLOCK) != 0;
    }
    return fd;
}

bool rampart_timer_poll(struct rampart_timer *t, int64_t now)
{
    if (t->next_ns != 0 && now >= t->next_ns) {
        if (t->interval_ns > 0) {
            uint64_t n = (uint64_t)((now - t->next_ns) / t->interval_ns) + 1;
            t->expired += n;
            t->next_ns += (int64_t)n * t->interval_ns;
        } else {
            t->expired++;
            t->next_ns = 0;
        }
    }
    return t->expired > 0;
}

int timerfd_gettime(int fd, struct itimerspec *curr)
{
    struct rampart_timer *t = timer_of(fd);
    if (t == NULL) {
        return -1;
    }
    if (curr == NULL) {
        errno = EFAULT;
        return -1;
    }
    int64_t now = rampart_now_ns();
    rampart_timer_poll(t, now);
    curr->it_interval = ns_ts(t->interval_ns);
    curr->it_value = ns_ts(t->next_ns == 0 ? 0 : t->next_ns - now);
    return 0;
}

int timerfd_settime(int fd, int flags, const struct itimerspec *nv, struct itimerspec *old)
{
    struct rampart_timer *t = timer_of(fd);
    if (t == NULL) {
        return -1;
    }
    if (nv == NULL || (flags & ~TFD_TIMER_ABSTIME) != 0 || nv->it_value.tv_nsec < 0 ||
        nv->it_value.tv_nsec >= 1000000000 || nv->it_interval.tv_nsec < 0 ||
        nv->it_interval.tv_nsec >= 1000000000 || nv->it_value.tv_sec < 0 || nv->it_interval.tv_sec < 0) {
        errno = EINVAL;
        return -1;
    }
    if (old != NULL && timerfd_gettime(fd, old) < 0) {
        return -1;
    }
    int64_t value = ts_ns(&nv->it_value), now = rampart_now_ns();
    t->expired = 0;
    t->interval_ns = ts_ns(&nv->it_interval);
    if (value == 0) {
        t->next_ns = 0; /* disarm */
    } else if (flags & TFD_TIMER_ABSTIME) {
        t->next_ns = value > 0 ? value : 1;
    } else {
        t->next_ns = now + value;
    }
    return 0;
}

/* rampart_timer_read is read() on a timer: the 8-byte count of expirations since the last read. */
ssize_t rampart_timer_read(struct rampart_timer *t, void *buf, size_t n)
{
    if (n < sizeof(uint64_t)) {
        errno = EINVAL;
        return -1;
    }
    while (!rampart_timer_poll(t, rampart_now_ns())) {
        if (t->nonblock || t->next_ns == 0) {
            errno = EAGAIN;
            return -1;
        }
        int64_t wait = t->next_ns - rampart_now_ns();
        if (wait > 0) {
            struct timespec ts = ns_ts(wait);
            nanosleep(&ts, NULL);
        }
    }
    uint64_t count = t->expired;
    t->expired = 0;
    __builtin_memcpy(buf, &count, sizeof count);
    return sizeof count;
}
