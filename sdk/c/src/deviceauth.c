/* tlsutils/deviceauth.h over the folder the app host gives apps with DeviceAuthentication
   (apphost.DeviceAuthDir). */
#include <errno.h>
#include <sys/stat.h>

#include <tlsutils/deviceauth.h>

#define DEVICE_AUTH_DIR "/run/rampart/deviceauth"

const char *DeviceAuth_GetCertificatePath(void)
{
    struct stat st;
    if (stat(DEVICE_AUTH_DIR, &st) != 0 || !S_ISDIR(st.st_mode)) {
        errno = EACCES; /* the host gives the folder only to apps with DeviceAuthentication */
        return NULL;
    }
    return DEVICE_AUTH_DIR "/device-cert.pem";
}
