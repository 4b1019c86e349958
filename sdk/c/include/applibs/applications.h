/* Rampart C SDK: Azure Sphere's applibs/applications.h, memory figures only. */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The app's memory, from the size of its WebAssembly linear memory, which never shrinks: the
   total, the user-mode and the peak figures are the same number, in KiB. The app host bounds
   it (16 MiB by default); a malloc past it returns NULL. */
size_t Applications_GetTotalMemoryUsageInKB(void);
size_t Applications_GetUserModeMemoryUsageInKB(void);
size_t Applications_GetPeakUserModeMemoryUsageInKB(void);

typedef struct Applications_OsVersion {
    char version[16];
} Applications_OsVersion;

/* The app host does not tell apps the runtime's version yet. */
int Applications_GetOsVersion(Applications_OsVersion *outVersion)
    __attribute__((unavailable("the app host does not tell apps the runtime's version: see docs/c-apps.md")));

#ifdef __cplusplus
}
#endif
