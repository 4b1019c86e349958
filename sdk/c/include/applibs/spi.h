/* Rampart C SDK: applibs/spi.h is not available. */
#pragma once
#error "applibs/spi.h is not in Rampart's C SDK: a Rampart app has no SPI bus. See docs/c-apps.md, \"What is missing\"."
