/* Rampart C SDK: applibs/certstore.h is not available. */
#pragma once
#error "applibs/certstore.h is not in Rampart's C SDK: the certificate store belongs to the device runtime, not to apps. See docs/c-apps.md, \"What is missing\"."
