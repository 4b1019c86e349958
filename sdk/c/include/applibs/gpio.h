/* Rampart C SDK: Azure Sphere's applibs/gpio.h. A GPIO is opened by its number (GPIO_Id, as the
   hardware definition's AppManifestValue gives it) and the app manifest's Gpio must list it,
   or the open fails with EACCES. The descriptors are the SDK's own: use them with
   GPIO_SetValue, GPIO_GetValue and close(). */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int GPIO_Id;

typedef uint8_t GPIO_OutputMode_Type;
enum {
    GPIO_OutputMode_PushPull = 0,
    GPIO_OutputMode_OpenDrain = 1,
    GPIO_OutputMode_OpenSource = 2,
};

typedef uint8_t GPIO_Value_Type;
enum {
    GPIO_Value_Low = 0,
    GPIO_Value_High = 1,
};

/* GPIO_OpenAsOutput opens gpioId as an output set to initialValue. Returns a descriptor, or -1
   with errno: EACCES (not in the manifest's Gpio), EBUSY (already open), ENODEV (no such GPIO),
   EINVAL (bad mode or value). */
int GPIO_OpenAsOutput(GPIO_Id gpioId, GPIO_OutputMode_Type outputMode, GPIO_Value_Type initialValue);

/* GPIO_OpenAsInput opens gpioId as an input. Errors as GPIO_OpenAsOutput. */
int GPIO_OpenAsInput(GPIO_Id gpioId);

/* GPIO_SetValue drives an output. Returns 0, or -1 with errno EBADF or EINVAL. On an input it
   has no effect, as on Azure Sphere. */
int GPIO_SetValue(int gpioFd, GPIO_Value_Type value);

/* GPIO_GetValue reads an input or an output into *outValue. Returns 0, or -1 with errno. */
int GPIO_GetValue(int gpioFd, GPIO_Value_Type *outValue);

#ifdef __cplusplus
}
#endif
