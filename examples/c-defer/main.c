/* Defer, in C with Azure Sphere's applibs: an appliance that must not be updated in the middle
   of a job. It registers for update notifications; when the first update is pending it defers
   it by ten minutes while it finishes its job (eight seconds here), then resumes the update,
   which the device installs at once. Later updates go ahead. It logs every status the update
   goes through. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <applibs/eventloop.h>
#include <applibs/log.h>
#include <applibs/sysevent.h>

#define DEFER_MINUTES 10
#define WORK_SECONDS 8

static bool busy = true; /* in a job until the first update has waited for its end */
static bool deferred;
static int workTimer = -1;

static const char *Kind(const SysEvent_Info *info)
{
    SysEvent_Info_UpdateData data;
    if (SysEvent_Info_GetUpdateData(info, &data) == -1) {
        return "unknown";
    }
    return data.update_type == SysEvent_UpdateType_App ? "application" : "OS";
}

static void UpdateCallback(SysEvent_Events event, SysEvent_Status status, const SysEvent_Info *info, void *context)
{
    (void)context;
    if (event != SysEvent_Events_UpdateReadyForInstall) {
        return;
    }
    const char *kind = Kind(info);
    switch (status) {
    case SysEvent_Status_Pending:
        Log_Debug("defer: %s update pending\n", kind);
        if (!busy || deferred) {
            Log_Debug("defer: not busy, letting the %s update install\n", kind);
            return;
        }
        if (SysEvent_DeferEvent(SysEvent_Events_UpdateReadyForInstall, DEFER_MINUTES) == -1) {
            Log_Debug("ERROR: could not defer the update: %s (%d)\n", strerror(errno), errno);
            return;
        }
        deferred = true;
        Log_Debug("defer: deferred the %s update by %d minutes\n", kind, DEFER_MINUTES);
        struct itimerspec work = {.it_value = {.tv_sec = WORK_SECONDS}};
        timerfd_settime(workTimer, 0, &work, NULL);
        break;
    case SysEvent_Status_Deferred:
        Log_Debug("defer: the %s update is deferred\n", kind);
        break;
    case SysEvent_Status_Final:
        Log_Debug("defer: the %s update is being installed\n", kind);
        break;
    case SysEvent_Status_Complete:
        Log_Debug("defer: the %s update is complete\n", kind);
        break;
    }
}

static void WorkDone(EventLoop *el, int fd, EventLoop_IoEvents events, void *context)
{
    (void)el, (void)events, (void)context;
    uint64_t n;
    read(fd, &n, sizeof n);
    busy = false;
    Log_Debug("defer: work done, resuming the update\n");
    if (SysEvent_ResumeEvent(SysEvent_Events_UpdateReadyForInstall) == -1) {
        Log_Debug("ERROR: could not resume the update: %s (%d)\n", strerror(errno), errno);
    }
}

int main(void)
{
    EventLoop *el = EventLoop_Create();
    if (el == NULL) {
        return 1;
    }
    workTimer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (workTimer == -1 || EventLoop_RegisterIo(el, workTimer, EventLoop_Input, WorkDone, NULL) == NULL) {
        Log_Debug("ERROR: could not set up the work timer: %s (%d)\n", strerror(errno), errno);
        return 1;
    }
    EventRegistration *reg = SysEvent_RegisterForEventNotifications(el, SysEvent_Events_Mask, UpdateCallback, NULL);
    if (reg == NULL) {
        Log_Debug("ERROR: could not register for update notifications: %s (%d)\n", strerror(errno), errno);
        return 1;
    }
    Log_Debug("defer: waiting for updates\n");
    for (;;) {
        if (EventLoop_Run(el, -1, true) == EventLoop_Run_Failed && errno != EINTR) {
            return 2;
        }
    }
}
