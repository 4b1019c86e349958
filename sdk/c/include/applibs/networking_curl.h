/* Rampart C SDK: applibs/networking_curl.h is not available. */
#pragma once
#error "applibs/networking_curl.h is not in Rampart's C SDK: libcurl is not in the SDK. See docs/c-apps.md, \"What is missing\"."
