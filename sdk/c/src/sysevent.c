/* applibs/sysevent.h over the host's events_next, update_defer and update_resume. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_DEFER_APP_MINUTES (167 * 60)
#define MAX_DEFER_OS_MINUTES (24 * 60)

struct SysEvent_Info {
    SysEvent_UpdateType type;
};

static void *fail_null(int32_t r)
{
    errno = rampart_errno(r);
    return NULL;
}

EventRegistration *SysEvent_RegisterForEventNotifications(EventLoop *el, SysEvent_Events eventBitmask,
                                                          SysEvent_EventsCallback callback, void *context)
{
    if (el == NULL || callback == NULL || eventBitmask == 0 || (eventBitmask & ~SysEvent_Events_Mask)) {
        errno = EINVAL;
        return NULL;
    }
    /* A zero-length buffer asks only whether the manifest grants the capability. */
    int32_t r = rampart_events_next(NULL, 0);
    if (r < 0 && r != RAMPART_ERR_TOO_SMALL) {
        return fail_null(r);
    }
    struct EventRegistration *reg = calloc(1, sizeof *reg);
    if (reg == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    *reg = (struct EventRegistration){.el = el, .kind = REG_SYSEVENT, .fd = -1, .sys_mask = eventBitmask,
                                      .sys_cb = callback, .context = context, .next = el->regs};
    el->regs = reg;
    return reg;
}

int SysEvent_UnregisterForEventNotifications(EventRegistration *reg)
{
    if (reg == NULL || reg->kind != REG_SYSEVENT) {
        errno = EINVAL;
        return -1;
    }
    return EventLoop_UnregisterIo(reg->el, reg);
}

/* The host's event types (apphost.SystemEvent...) and the status each one is. */
static const struct {
    const char *type;
    SysEvent_Status status;
} statuses[] = {
    {"\"type\":\"update_pending\"", SysEvent_Status_Pending},
    {"\"type\":\"update_deferred\"", SysEvent_Status_Deferred},
    {"\"type\":\"update_final\"", SysEvent_Status_Final},
    {"\"type\":\"update_complete\"", SysEvent_Status_Complete},
};

bool rampart_sysevent_poll(EventLoop *el)
{
    char buf[512];
    int32_t n = rampart_events_next(buf, sizeof buf - 1);
    if (n <= 0) {
        return false;
    }
    buf[n] = 0;
    SysEvent_Status status = SysEvent_Status_Invalid;
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        if (strstr(buf, statuses[i].type) != NULL) {
            status = statuses[i].status;
        }
    }
    if (status == SysEvent_Status_Invalid) {
        return false; /* a kind of event this SDK does not know */
    }
    struct SysEvent_Info info = {.type = strstr(buf, "\"kind\":\"runtime\"") != NULL ? SysEvent_UpdateType_System
                                                                                  : SysEvent_UpdateType_App};
    bool any = false;
    for (struct EventRegistration *r = el->regs; r != NULL; r = r->next) {
        if (!r->removed && r->kind == REG_SYSEVENT && (r->sys_mask & SysEvent_Events_UpdateReadyForInstall)) {
            r->sys_cb(SysEvent_Events_UpdateReadyForInstall, status, &info, r->context);
            any = true;
        }
    }
    return any;
}

int SysEvent_Info_GetUpdateData(const SysEvent_Info *info, SysEvent_Info_UpdateData *update_info)
{
    if (info == NULL || update_info == NULL) {
        errno = EINVAL;
        return -1;
    }
    update_info->update_type = info->type;
    update_info->max_deferral_time_in_minutes =
        info->type == SysEvent_UpdateType_System ? MAX_DEFER_OS_MINUTES : MAX_DEFER_APP_MINUTES;
    return 0;
}

int SysEvent_DeferEvent(SysEvent_Events event, uint32_t delayTime)
{
    if (event != SysEvent_Events_UpdateReadyForInstall || delayTime == 0 ||
        delayTime > MAX_DEFER_APP_MINUTES) {
        errno = EINVAL;
        return -1;
    }
    /* Azure Sphere defers whatever update is pending: try the app update, then the OS's. */
    int32_t r = rampart_update_defer(1, (int32_t)delayTime);
    if (r == RAMPART_ERR_NOT_FOUND && delayTime <= MAX_DEFER_OS_MINUTES) {
        r = rampart_update_defer(2, (int32_t)delayTime);
    }
    if (r < 0) {
        errno = rampart_errno(r);
        return -1;
    }
    return 0;
}

int SysEvent_ResumeEvent(SysEvent_Events event)
{
    if (event != SysEvent_Events_UpdateReadyForInstall) {
        errno = EINVAL;
        return -1;
    }
    /* Azure Sphere resumes whatever update the app deferred: the app update, the OS's, or both. */
    int32_t app = rampart_update_resume(1);
    if (app < 0 && app != RAMPART_ERR_NOT_FOUND) {
        errno = rampart_errno(app);
        return -1;
    }
    int32_t os = rampart_update_resume(2);
    if (os < 0 && !(os == RAMPART_ERR_NOT_FOUND && app == 0)) {
        errno = rampart_errno(os);
        return -1;
    }
    return 0;
}
