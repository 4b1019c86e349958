/* Rampart C SDK: applibs/wificonfig.h is not available. */
#pragma once
#error "applibs/wificonfig.h is not in Rampart's C SDK: network configuration belongs to the device runtime, not to apps. See docs/c-apps.md, \"What is missing\"."
