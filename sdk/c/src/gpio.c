/* applibs/gpio.h over the host's gpio_set and gpio_get. */
#include <errno.h>

#include <applibs/gpio.h>

#include "internal.h"

#define MAX_GPIO 1023 /* manifest.MaxGpioPin */

static int gpio_busy(GPIO_Id id)
{
    for (int fd = RAMPART_FD_BASE; fd < RAMPART_FD_BASE + RAMPART_MAX_FDS; fd++) {
        struct rampart_fd *f = rampart_fd_get(fd);
        if (f != NULL && (f->kind == FD_GPIO_IN || f->kind == FD_GPIO_OUT) && f->pin == id) {
            return 1;
        }
    }
    return 0;
}

static int gpio_open(GPIO_Id id, enum rampart_fd_kind kind, int32_t r)
{
    if (r < 0) {
        errno = rampart_errno(r);
        return -1;
    }
    int fd = rampart_fd_alloc(kind);
    if (fd >= 0) {
        rampart_fd_get(fd)->pin = id;
    }
    return fd;
}

static int gpio_check_id(GPIO_Id id)
{
    if (id < 0 || id > MAX_GPIO) {
        errno = ENODEV;
        return -1;
    }
    if (gpio_busy(id)) {
        errno = EBUSY;
        return -1;
    }
    return 0;
}

int GPIO_OpenAsOutput(GPIO_Id gpioId, GPIO_OutputMode_Type outputMode, GPIO_Value_Type initialValue)
{
    if (gpio_check_id(gpioId) < 0) {
        return -1;
    }
    if (outputMode > GPIO_OutputMode_OpenSource || initialValue > GPIO_Value_High) {
        errno = EINVAL;
        return -1;
    }
    return gpio_open(gpioId, FD_GPIO_OUT, rampart_gpio_set(gpioId, initialValue));
}

int GPIO_OpenAsInput(GPIO_Id gpioId)
{
    if (gpio_check_id(gpioId) < 0) {
        return -1;
    }
    int32_t r = rampart_gpio_get(gpioId);
    return gpio_open(gpioId, FD_GPIO_IN, r < 0 ? r : 0);
}

int GPIO_SetValue(int gpioFd, GPIO_Value_Type value)
{
    struct rampart_fd *f = rampart_fd_get(gpioFd);
    if (f == NULL || (f->kind != FD_GPIO_IN && f->kind != FD_GPIO_OUT)) {
        errno = EBADF;
        return -1;
    }
    if (value > GPIO_Value_High) {
        errno = EINVAL;
        return -1;
    }
    if (f->kind == FD_GPIO_IN) {
        return 0; /* no effect on an input, as on Azure Sphere */
    }
    int32_t r = rampart_gpio_set(f->pin, value);
    if (r < 0) {
        errno = rampart_errno(r);
        return -1;
    }
    return 0;
}

int GPIO_GetValue(int gpioFd, GPIO_Value_Type *outValue)
{
    struct rampart_fd *f = rampart_fd_get(gpioFd);
    if (f == NULL || (f->kind != FD_GPIO_IN && f->kind != FD_GPIO_OUT)) {
        errno = EBADF;
        return -1;
    }
    if (outValue == NULL) {
        errno = EFAULT;
        return -1;
    }
    int32_t r = rampart_gpio_get(f->pin);
    if (r < 0) {
        errno = rampart_errno(r);
        return -1;
    }
    *outValue = (GPIO_Value_Type)r;
    return 0;
}
