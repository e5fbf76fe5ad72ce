/* Wall-clock milliseconds for timestamps and expiry; tests replace the clock to step time. */
#ifndef MNEMO_CORE_CLOCK_H
#define MNEMO_CORE_CLOCK_H

#include <stdint.h>

int64_t mnemo__now_ms(void);
/* Test hook: fn replaces the wall clock; NULL restores it. */
void mnemo__clock_override(int64_t (*fn)(void));

#endif
