/* Rampart C SDK: <signal.h> for Azure Sphere apps. wasi-libc has signals only as an emulation
   (raise() within the app; nothing from outside); the SDK turns it on and adds sigaction(),
   which Azure Sphere apps use to install their SIGTERM handler, with sa_handler only. The app
   host stops an app by ending its module, not with SIGTERM: the handler is kept but never
   called from outside. */
#pragma once

#ifndef _WASI_EMULATED_SIGNAL
#define _WASI_EMULATED_SIGNAL
#endif
#include_next <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sigaction {
    void (*sa_handler)(int);
    unsigned long sa_mask[128 / sizeof(long)]; /* not used: the emulation blocks nothing */
    int sa_flags;
};

int sigaction(int sig, const struct sigaction *__restrict act, struct sigaction *__restrict oldact);

#ifdef __cplusplus
}
#endif
