/* Rampart C SDK: applibs/uart.h is not available. */
#pragma once
#error "applibs/uart.h is not in Rampart's C SDK: a Rampart app has no UART. See docs/c-apps.md, \"What is missing\"."
