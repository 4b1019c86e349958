/* applibs/log.h over the host's log function. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <applibs/log.h>

#include "internal.h"

#define MAX_LOG_MESSAGE 4096

int Log_DebugVarArgs(const char *fmt, va_list args)
{
    char buf[MAX_LOG_MESSAGE + 1];
    int n = vsnprintf(buf, sizeof buf, fmt, args);
    if (n < 0) {
        return -1;
    }
    size_t len = strlen(buf);
    while (len > 0 && buf[len - 1] == '\n') {
        len--; /* the host keeps lines: Azure Sphere apps end each message with one */
    }
    int32_t r = rampart_log(0, buf, (uint32_t)len);
    if (r < 0) {
        errno = rampart_errno(r);
        return -1;
    }
    return 0;
}

int Log_Debug(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int r = Log_DebugVarArgs(fmt, args);
    va_end(args);
    return r;
}
