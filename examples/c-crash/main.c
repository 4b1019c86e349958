/* Crash, in C with Azure Sphere's applibs: logs three readings, then reads through a pointer
   past the end of its memory. WebAssembly traps where an MT3620 would fault; the app host
   records the trap with its stack trace (function names from the Debug build's name section),
   sends an AppCrash error event, and restarts the app with backoff, as for a Go app. */
#include <stdint.h>

#include <applibs/log.h>

static const int readings[] = {21, 22, 23};

/* ReadSensor has the bug: past the table it follows a pointer to nowhere. */
static int ReadSensor(int i)
{
    if (i < 3) {
        return readings[i];
    }
    volatile int *wild = (volatile int *)(uintptr_t)0xfffffff0u;
    return *wild;
}

int main(void)
{
    for (int i = 0;; i++) {
        Log_Debug("crash: reading %d is %d\n", i, ReadSensor(i));
    }
}
