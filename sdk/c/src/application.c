/* applibs/application.h, applibs/applications.h' memory figures and applibs/powermanagement.h. */
#include <errno.h>

#include <applibs/application.h>
#include <applibs/applications.h>
#include <applibs/powermanagement.h>

#include "internal.h"

int Application_Connect(const char *componentId)
{
    (void)componentId;
    errno = EACCES;
    return -1;
}

int Application_IsDeviceAuthReady(bool *outIsReady)
{
    if (outIsReady == NULL) {
        errno = EFAULT;
        return -1;
    }
    int32_t r = rampart_device_auth_ready();
    if (r < 0) {
        errno = rampart_errno(r);
        return -1;
    }
    *outIsReady = r == 1;
    return 0;
}

static size_t memoryKB(void) { return __builtin_wasm_memory_size(0) * 64; }

size_t Applications_GetTotalMemoryUsageInKB(void) { return memoryKB(); }
size_t Applications_GetUserModeMemoryUsageInKB(void) { return memoryKB(); }
size_t Applications_GetPeakUserModeMemoryUsageInKB(void) { return memoryKB(); }

int PowerManagement_ForceSystemReboot(void)
{
    errno = EACCES;
    return -1;
}

int PowerManagement_ForceSystemPowerDown(unsigned int maximum_residency_in_seconds)
{
    (void)maximum_residency_in_seconds;
    errno = EACCES;
    return -1;
}

int PowerManagement_SetSystemPowerProfile(PowerManagement_System_PowerProfile desired_profile)
{
    (void)desired_profile;
    errno = EACCES;
    return -1;
}
