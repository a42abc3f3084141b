// SPDX-License-Identifier: GPL-2.0
/* odp_core: the tracepoints of odp_trace.h are defined here. */
#define CREATE_TRACE_POINTS
#include "odp_trace.h"
