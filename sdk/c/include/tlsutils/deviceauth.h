/* Rampart C SDK: tlsutils/deviceauth.h is not available. */
#pragma once
#error "tlsutils/deviceauth.h is not in Rampart's C SDK: wolfSSL is not in the SDK; the app host's TLS with the device certificate is not wrapped for C yet. See docs/c-apps.md, \"What is missing\"."
