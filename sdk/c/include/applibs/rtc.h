/* Rampart C SDK: applibs/rtc.h is not available. */
#pragma once
#error "applibs/rtc.h is not in Rampart's C SDK: the device's clock is set by the device runtime, not by apps. See docs/c-apps.md, \"What is missing\"."
