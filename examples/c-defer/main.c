/* Defer, in C with Azure Sphere's applibs: registers for update notifications and defers each
   pending update by ten minutes, as an appliance would while it is busy, logging what it does. */
#include <errno.h>
#include <string.h>

#include <applibs/eventloop.h>
#include <applibs/log.h>
#include <applibs/sysevent.h>

#define DEFER_MINUTES 10

static void UpdateCallback(SysEvent_Events event, SysEvent_Status status, const SysEvent_Info *info, void *context)
{
    (void)context;
    if (event != SysEvent_Events_UpdateReadyForInstall || status != SysEvent_Status_Pending) {
        return;
    }
    SysEvent_Info_UpdateData data;
    if (SysEvent_Info_GetUpdateData(info, &data) == -1) {
        Log_Debug("ERROR: could not get the update data: %s (%d)\n", strerror(errno), errno);
        return;
    }
    const char *kind = data.update_type == SysEvent_UpdateType_App ? "application" : "OS";
    Log_Debug("defer: %s update pending (deferrable by up to %u minutes)\n", kind,
              (unsigned)data.max_deferral_time_in_minutes);
    if (SysEvent_DeferEvent(SysEvent_Events_UpdateReadyForInstall, DEFER_MINUTES) == -1) {
        Log_Debug("ERROR: could not defer the update: %s (%d)\n", strerror(errno), errno);
        return;
    }
    Log_Debug("defer: deferred the %s update by %d minutes\n", kind, DEFER_MINUTES);
}

int main(void)
{
    EventLoop *el = EventLoop_Create();
    if (el == NULL) {
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
