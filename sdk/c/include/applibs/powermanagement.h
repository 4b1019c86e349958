/* Rampart C SDK: applibs/powermanagement.h is not available. */
#pragma once
#error "applibs/powermanagement.h is not in Rampart's C SDK: the app host has no import for reboot or power-down yet. See docs/c-apps.md, \"What is missing\"."
