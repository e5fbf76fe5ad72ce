/* A progress bar with rate and ETA on stderr, drawn only when stderr is a terminal (at most ten
 * times a second) and erased at the end, so redirected output never carries it. */
#include "cli/cli.h"

#include <time.h>
#include <unistd.h>

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_start(cli_progress *p, uint64_t total_bytes)
{
    p->on = isatty(STDERR_FILENO);
    p->total = total_bytes;
    p->t0 = cli_now();
    p->last = 0;
}

void cli_progress_update(cli_progress *p, uint64_t bytes, uint64_t lines)
{
    if (!p->on)
        return;
    double now = cli_now();
    if (now - p->last < 0.1)
        return;
    p->last = now;
    double secs = now - p->t0 > 1e-6 ? now - p->t0 : 1e-6;
    double rate = (double)lines / secs, mbs = (double)bytes / secs / (1024.0 * 1024.0);
    if (p->total) {
        double frac = (double)bytes / (double)p->total;
        if (frac > 1)
            frac = 1;
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        double eta = frac > 0 ? secs * (1 - frac) / frac : 0;
        fprintf(stderr, "\r[%s] %5.1f%%  %llu lines  %.0f lines/s  %.1f MiB/s  ETA %d:%02d\033[K", bar,
                frac * 100, (unsigned long long)lines, rate, mbs, (int)eta / 60, (int)eta % 60);
    } else {
        fprintf(stderr, "\r%llu lines  %.0f lines/s  %.1f MiB/s\033[K", (unsigned long long)lines, rate, mbs);
    }
    fflush(stderr);
}

void cli_progress_end(cli_progress *p)
{
    if (p->on && p->last > 0) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}
