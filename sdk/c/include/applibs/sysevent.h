/* Rampart C SDK: Azure Sphere's applibs/sysevent.h: update notifications and deferral. The
   manifest needs SystemEventNotifications to register (else EACCES) and SoftwareUpdateDeferral
   to defer or resume (else EACCES). The event loop asks the app host for pending events about once a
   second while a registration exists. */
#pragma once

#include <stdint.h>
#include <applibs/eventloop.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t SysEvent_Events;
enum {
    SysEvent_Events_None = 0x00,
    SysEvent_Events_UpdateReadyForInstall = 0x01,
    SysEvent_Events_UpdateStarted = 0x02,
    SysEvent_Events_NoUpdateAvailable = 0x04,
    SysEvent_Events_Mask = SysEvent_Events_UpdateStarted | SysEvent_Events_UpdateReadyForInstall |
                           SysEvent_Events_NoUpdateAvailable,
};

typedef uint32_t SysEvent_Status;
enum {
    SysEvent_Status_Invalid = 0,
    SysEvent_Status_Pending = 1,
    SysEvent_Status_Final = 2,
    SysEvent_Status_Deferred = 3,
    SysEvent_Status_Complete = 4,
};

typedef uint32_t SysEvent_UpdateType;
enum {
    SysEvent_UpdateType_Invalid = 0,
    SysEvent_UpdateType_App = 1,
    SysEvent_UpdateType_System = 2,
};

typedef struct SysEvent_Info SysEvent_Info;

typedef struct SysEvent_Info_UpdateData {
    uint32_t z__magicAndVersion;
    uint32_t max_deferral_time_in_minutes;
    SysEvent_UpdateType update_type;
} SysEvent_Info_UpdateData;

typedef void SysEvent_EventsCallback(SysEvent_Events event, SysEvent_Status state,
                                     const SysEvent_Info *info, void *context);

/* SysEvent_RegisterForEventNotifications calls callback from el's EventLoop_Run for the events
   of eventBitmask. Returns a registration, or NULL with errno: EACCES, EINVAL, ENOMEM.
   Rampart reports SysEvent_Events_UpdateReadyForInstall only, with the statuses Pending (an
   update will be installed unless deferred), Deferred (an app deferred it), Final (it is being
   installed now) and Complete (an application update was installed); never UpdateStarted or
   NoUpdateAvailable. */
EventRegistration *SysEvent_RegisterForEventNotifications(EventLoop *el, SysEvent_Events eventBitmask,
                                                          SysEvent_EventsCallback callback, void *context);

int SysEvent_UnregisterForEventNotifications(EventRegistration *reg);

/* SysEvent_DeferEvent defers the pending update by delayTime minutes (at most 167 hours after it
   was announced for an app, 24 for the OS). Returns 0, or -1 with errno: EACCES (no
   SoftwareUpdateDeferral), EINVAL, ENOENT (no update pending). */
int SysEvent_DeferEvent(SysEvent_Events event, uint32_t delayTime);

/* SysEvent_ResumeEvent ends the app's own deferral of the pending update (an application
   update, an OS update, or both), which then goes ahead at once unless another app's deferral
   holds it. Returns 0, or -1 with errno: EACCES (no SoftwareUpdateDeferral), EINVAL (another
   event), ENOENT (the app holds no deferral). */
int SysEvent_ResumeEvent(SysEvent_Events event);

/* SysEvent_Info_GetUpdateData fills *update_info for an UpdateReadyForInstall event. */
int SysEvent_Info_GetUpdateData(const SysEvent_Info *info, SysEvent_Info_UpdateData *update_info);

#ifdef __cplusplus
}
#endif
