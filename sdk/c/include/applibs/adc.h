/* Rampart C SDK: applibs/adc.h is not available. */
#pragma once
#error "applibs/adc.h is not in Rampart's C SDK: a Rampart app has no ADC. See docs/c-apps.md, \"What is missing\"."
