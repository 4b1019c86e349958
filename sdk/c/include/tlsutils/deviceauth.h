/* Rampart C SDK: tlsutils/deviceauth.h is not available. */
#pragma once
#error "tlsutils/deviceauth.h is not in Rampart's C SDK: an app never holds the device's key or certificate file. Use Rampart_ConnectTLS(host, port, true) from <rampart/net.h>, which the app host authenticates with the device certificate. See docs/c-apps.md, \"What is missing\"."
