/* Rampart C SDK: applibs/application.h is not available. */
#pragma once
#error "applibs/application.h is not in Rampart's C SDK: inter-core communication and the other calls of this header have no host import yet. See docs/c-apps.md, \"What is missing\"."
