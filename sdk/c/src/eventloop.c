/* applibs/eventloop.h: a single-threaded loop over the SDK's timers and system events. It
   sleeps (WASI poll_oneoff, through nanosleep) until the next timer is due, at most a second
   while a system event registration exists, and dispatches level-triggered: a timer whose
   expirations were not read fires again. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

#define SYSEVENT_POLL_NS 1000000000LL
#define FOREVER INT64_MAX

EventLoop *EventLoop_Create(void)
{
    EventLoop *el = calloc(1, sizeof *el);
    if (el == NULL) {
        errno = ENOMEM;
    }
    return el;
}

static void sweep(EventLoop *el)
{
    struct EventRegistration **p = &el->regs;
    while (*p != NULL) {
        struct EventRegistration *r = *p;
        if (r->removed) {
            *p = r->next;
            free(r);
        } else {
            p = &r->next;
        }
    }
}

void EventLoop_Close(EventLoop *el)
{
    if (el == NULL) {
        return;
    }
    for (struct EventRegistration *r = el->regs; r != NULL; r = r->next) {
        r->removed = true;
    }
    sweep(el);
    free(el);
}

int EventLoop_Stop(EventLoop *el)
{
    if (el == NULL) {
        errno = EINVAL;
        return -1;
    }
    el->stop = true;
    return 0;
}

int EventLoop_GetWaitDescriptor(EventLoop *el)
{
    (void)el;
    errno = ENOSYS;
    return -1;
}

EventRegistration *EventLoop_RegisterIo(EventLoop *el, int fd, EventLoop_IoEvents eventBitmask,
                                        EventLoopIoCallback *callback, void *context)
{
    struct rampart_fd *f = rampart_fd_get(fd);
    if (el == NULL || callback == NULL || f == NULL || f->kind != FD_TIMER) {
        errno = EINVAL; /* only the SDK's timers can be waited on: see docs/c-apps.md */
        return NULL;
    }
    struct EventRegistration *r = calloc(1, sizeof *r);
    if (r == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    *r = (struct EventRegistration){.el = el, .kind = REG_IO, .fd = fd, .events = eventBitmask,
                                    .io_cb = callback, .context = context, .next = el->regs};
    el->regs = r;
    return r;
}

int EventLoop_ModifyIoEvents(EventLoop *el, EventRegistration *reg, EventLoop_IoEvents eventBitmask)
{
    if (el == NULL || reg == NULL || reg->el != el || reg->kind != REG_IO) {
        errno = EINVAL;
        return -1;
    }
    reg->events = eventBitmask;
    return 0;
}

int EventLoop_UnregisterIo(EventLoop *el, EventRegistration *reg)
{
    if (reg == NULL) {
        return 0;
    }
    if (el == NULL || reg->el != el) {
        errno = EINVAL;
        return -1;
    }
    reg->removed = true;
    if (el->running == 0) {
        sweep(el);
    }
    return 0;
}

/* dispatch_timers calls the callbacks of due timers: one if one, else all. It returns how many. */
static int dispatch_timers(EventLoop *el, bool one)
{
    int n = 0;
    int64_t now = rampart_now_ns();
    for (struct EventRegistration *r = el->regs; r != NULL; r = r->next) {
        struct rampart_fd *f = rampart_fd_get(r->fd);
        if (r->removed || r->kind != REG_IO || !(r->events & EventLoop_Input) || f == NULL ||
            f->kind != FD_TIMER || !rampart_timer_poll(&f->timer, now)) {
            continue;
        }
        r->io_cb(el, r->fd, EventLoop_Input, r->context);
        if (++n > 0 && one) {
            break;
        }
    }
    return n;
}

/* next_wake is when something may be ready: the earliest timer or system event poll. */
static int64_t next_wake(EventLoop *el)
{
    int64_t wake = FOREVER;
    for (struct EventRegistration *r = el->regs; r != NULL; r = r->next) {
        if (r->removed) {
            continue;
        }
        if (r->kind == REG_SYSEVENT && el->next_sys_poll < wake) {
            wake = el->next_sys_poll;
        }
        struct rampart_fd *f = r->kind == REG_IO ? rampart_fd_get(r->fd) : NULL;
        if (f != NULL && f->kind == FD_TIMER && f->timer.next_ns != 0 && f->timer.next_ns < wake) {
            wake = f->timer.next_ns;
        }
    }
    return wake;
}

static bool has_sysevent(EventLoop *el)
{
    for (struct EventRegistration *r = el->regs; r != NULL; r = r->next) {
        if (!r->removed && r->kind == REG_SYSEVENT) {
            return true;
        }
    }
    return false;
}

static int run_once(EventLoop *el, bool one)
{
    int n = dispatch_timers(el, one);
    if ((n == 0 || !one) && has_sysevent(el) && rampart_now_ns() >= el->next_sys_poll) {
        el->next_sys_poll = rampart_now_ns() + SYSEVENT_POLL_NS;
        n += rampart_sysevent_poll(el) ? 1 : 0;
    }
    return n;
}

EventLoop_Run_Result EventLoop_Run(EventLoop *el, int duration_in_milliseconds, bool processOneEvent)
{
    if (el == NULL || duration_in_milliseconds < -1) {
        errno = EINVAL;
        return EventLoop_Run_Failed;
    }
    int64_t deadline = duration_in_milliseconds < 0
                           ? FOREVER
                           : rampart_now_ns() + (int64_t)duration_in_milliseconds * 1000000;
    el->running++;
    int n = 0;
    for (;;) {
        n = run_once(el, processOneEvent);
        int64_t now = rampart_now_ns();
        if (n > 0 || el->stop || now >= deadline) {
            break;
        }
        int64_t wake = next_wake(el);
        wake = wake < deadline ? wake : deadline;
        int64_t wait = wake == FOREVER ? SYSEVENT_POLL_NS : wake - now;
        if (wait > 0) {
            struct timespec ts = {.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000};
            nanosleep(&ts, NULL);
        }
    }
    el->stop = false;
    if (--el->running == 0) {
        sweep(el);
    }
    return n > 0 ? EventLoop_Run_Finished : EventLoop_Run_FinishedEmpty;
}
