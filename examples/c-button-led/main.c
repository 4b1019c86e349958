/* Button and LED, in C with Azure Sphere's applibs: a periodic timer polls button A every
   100 ms; each press (a high-to-low edge: the RDB's buttons pull low) toggles LED 2 and arms a
   one-shot timer that logs, two seconds later, what the LED shows. All on one event loop. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/timerfd.h>

#include <applibs/eventloop.h>
#include <applibs/gpio.h>
#include <applibs/log.h>

#include <hw/button_led.h>

static volatile sig_atomic_t exitCode = 0;
static int buttonFd = -1, ledFd = -1, reportFd = -1;
static GPIO_Value_Type lastButton = GPIO_Value_High;
static bool ledOn = false;

static void TerminationHandler(int signalNumber)
{
    (void)signalNumber;
    exitCode = 1;
}

static int ArmTimer(int fd, time_t seconds, long nanoseconds, bool periodic)
{
    struct itimerspec t = {.it_value = {.tv_sec = seconds, .tv_nsec = nanoseconds}};
    if (periodic) {
        t.it_interval = t.it_value;
    }
    return timerfd_settime(fd, 0, &t, NULL);
}

static bool Consume(int fd)
{
    uint64_t expirations;
    if (read(fd, &expirations, sizeof expirations) == -1) {
        Log_Debug("ERROR: could not read a timer: %s (%d)\n", strerror(errno), errno);
        exitCode = 2;
        return false;
    }
    return true;
}

static void ButtonPollHandler(EventLoop *el, int fd, EventLoop_IoEvents events, void *context)
{
    (void)el, (void)events, (void)context;
    GPIO_Value_Type now;
    if (!Consume(fd) || GPIO_GetValue(buttonFd, &now) == -1) {
        exitCode = 3;
        return;
    }
    bool pressed = now != lastButton && now == GPIO_Value_Low;
    lastButton = now;
    if (!pressed) {
        return;
    }
    ledOn = !ledOn;
    GPIO_SetValue(ledFd, ledOn ? GPIO_Value_High : GPIO_Value_Low);
    Log_Debug("button-led: button A pressed, LED %s\n", ledOn ? "on" : "off");
    ArmTimer(reportFd, 2, 0, false);
}

static void ReportHandler(EventLoop *el, int fd, EventLoop_IoEvents events, void *context)
{
    (void)el, (void)events, (void)context;
    GPIO_Value_Type led;
    if (Consume(fd) && GPIO_GetValue(ledFd, &led) == 0) {
        Log_Debug("button-led: two seconds after the press the LED reads %d\n", led);
    }
}

static int Open(EventLoop *el)
{
    buttonFd = GPIO_OpenAsInput(SAMPLE_BUTTON_1);
    ledFd = GPIO_OpenAsOutput(SAMPLE_LED, GPIO_OutputMode_PushPull, GPIO_Value_Low);
    if (buttonFd == -1 || ledFd == -1) {
        Log_Debug("ERROR: could not open the button or the LED: %s (%d)\n", strerror(errno), errno);
        return -1;
    }
    int pollFd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    reportFd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (pollFd == -1 || reportFd == -1 || ArmTimer(pollFd, 0, 100 * 1000 * 1000, true) == -1 ||
        EventLoop_RegisterIo(el, pollFd, EventLoop_Input, ButtonPollHandler, NULL) == NULL ||
        EventLoop_RegisterIo(el, reportFd, EventLoop_Input, ReportHandler, NULL) == NULL) {
        Log_Debug("ERROR: could not set up the timers: %s (%d)\n", strerror(errno), errno);
        return -1;
    }
    return 0;
}

int main(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = TerminationHandler;
    sigaction(SIGTERM, &action, NULL);

    Log_Debug("button-led: button on GPIO %d, LED on GPIO %d\n", SAMPLE_BUTTON_1, SAMPLE_LED);
    EventLoop *el = EventLoop_Create();
    if (el == NULL || Open(el) == -1) {
        return 1;
    }
    while (exitCode == 0) {
        if (EventLoop_Run(el, -1, true) == EventLoop_Run_Failed && errno != EINTR) {
            exitCode = 4;
        }
    }
    EventLoop_Close(el);
    return exitCode;
}
