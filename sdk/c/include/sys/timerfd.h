/* Rampart C SDK: timerfd for WebAssembly apps. WASI has no timerfd; the SDK emulates it over
   the monotonic clock, for use with applibs/eventloop.h as Azure Sphere apps use it: create,
   settime, gettime, read (the 8-byte expiration count) and close. */
#pragma once

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TFD_NONBLOCK 04000
#define TFD_CLOEXEC 02000000
#define TFD_TIMER_ABSTIME 1

/* timerfd_create accepts CLOCK_MONOTONIC and CLOCK_BOOTTIME-like uses of CLOCK_REALTIME (both
   are measured on the monotonic clock). Returns a descriptor, or -1 with errno EINVAL or EMFILE.
   struct itimerspec is wasi-libc's, from <time.h>. */
int timerfd_create(clockid_t clockid, int flags);
int timerfd_settime(int fd, int flags, const struct itimerspec *new_value, struct itimerspec *old_value);
int timerfd_gettime(int fd, struct itimerspec *curr_value);

#ifdef __cplusplus
}
#endif
