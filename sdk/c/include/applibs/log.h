/* Rampart C SDK: Azure Sphere's applibs/log.h. Messages go to the app's log on the device
   (`rampart-device app logs`) at level DEBUG; a message longer than 4096 bytes is cut. */
#pragma once

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Log_Debug formats and logs a message. Returns 0, or -1 with errno set. */
int Log_Debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Log_DebugVarArgs is Log_Debug with a va_list. */
int Log_DebugVarArgs(const char *fmt, va_list args);

#ifdef __cplusplus
}
#endif
