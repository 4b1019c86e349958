/* Rampart C SDK: Azure Sphere's applibs/eventloop.h. An EventLoop dispatches the descriptors
   registered with it: timerfd timers (sys/timerfd.h) and the SDK's system event registration.
   Other descriptors cannot be registered (EINVAL): a WASI app has no sockets or devices to
   wait on; see docs/c-apps.md. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct EventLoop EventLoop;
typedef struct EventRegistration EventRegistration;

typedef uint32_t EventLoop_IoEvents;
enum {
    EventLoop_Input = 0x01,
    EventLoop_Output = 0x04,
    EventLoop_Error = 0x08,
};

typedef int EventLoop_Run_Result;
enum {
    EventLoop_Run_Failed = -1,
    EventLoop_Run_FinishedEmpty = 0,
    EventLoop_Run_Finished = 1,
};

typedef void EventLoopIoCallback(EventLoop *el, int fd, EventLoop_IoEvents events, void *context);

/* EventLoop_Create returns a new event loop, or NULL with errno. */
EventLoop *EventLoop_Create(void);

/* EventLoop_Close unregisters everything and frees el. NULL is a no-op. */
void EventLoop_Close(EventLoop *el);

/* EventLoop_Run waits up to duration_in_milliseconds (-1: until an event, 0: not at all) and
   dispatches the events that are ready: one if processOneEvent, else all. */
EventLoop_Run_Result EventLoop_Run(EventLoop *el, int duration_in_milliseconds, bool processOneEvent);

/* EventLoop_Stop makes a running EventLoop_Run return. */
int EventLoop_Stop(EventLoop *el);

/* EventLoop_GetWaitDescriptor is not available: it fails with ENOSYS. */
int EventLoop_GetWaitDescriptor(EventLoop *el);

/* EventLoop_RegisterIo calls callback when fd (a timerfd) has eventBitmask's events. */
EventRegistration *EventLoop_RegisterIo(EventLoop *el, int fd, EventLoop_IoEvents eventBitmask,
                                        EventLoopIoCallback *callback, void *context);

/* EventLoop_ModifyIoEvents changes the events a registration waits for. */
int EventLoop_ModifyIoEvents(EventLoop *el, EventRegistration *reg, EventLoop_IoEvents eventBitmask);

/* EventLoop_UnregisterIo removes a registration; NULL is a no-op. */
int EventLoop_UnregisterIo(EventLoop *el, EventRegistration *reg);

#ifdef __cplusplus
}
#endif
