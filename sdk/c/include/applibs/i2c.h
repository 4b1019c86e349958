/* Rampart C SDK: applibs/i2c.h is not available. */
#pragma once
#error "applibs/i2c.h is not in Rampart's C SDK: a Rampart app has no I2C bus. See docs/c-apps.md, \"What is missing\"."
