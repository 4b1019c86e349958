/* Rampart C SDK: applibs/networking.h is not available. */
#pragma once
#error "applibs/networking.h is not in Rampart's C SDK: the app host has no import for interface state yet. See docs/c-apps.md, \"What is missing\"."
