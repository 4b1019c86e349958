/* Rampart C SDK: Azure Sphere's applibs/powermanagement.h. Power belongs to the device
   runtime: no Rampart manifest can grant PowerControls (`rampart image pack` refuses it), so
   each call fails with EACCES, the errno Azure Sphere gives an app without that capability. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t PowerManagement_System_PowerProfile;
enum {
    PowerManagement_PowerSaver = 0,
    PowerManagement_Balanced = 1,
    PowerManagement_HighPerformance = 2,
};

int PowerManagement_ForceSystemReboot(void);
int PowerManagement_ForceSystemPowerDown(unsigned int maximum_residency_in_seconds);
int PowerManagement_SetSystemPowerProfile(PowerManagement_System_PowerProfile desired_profile);

#ifdef __cplusplus
}
#endif
