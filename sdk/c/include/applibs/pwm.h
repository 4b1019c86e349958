/* Rampart C SDK: applibs/pwm.h is not available. */
#pragma once
#error "applibs/pwm.h is not in Rampart's C SDK: a Rampart app has no PWM. See docs/c-apps.md, \"What is missing\"."
