// glibc malloc statistics of a soaked service, sampled from inside it (gdb cannot call into a
// process on this machine: "Couldn't write extended state status"). Preloaded into `bench soak`,
// it starts a thread in the process named docker-api (no other) that appends mallinfo2()'s totals
// and malloc_info()'s per-arena XML to $MSTAT_DIR/mstat.log every $MSTAT_SECONDS (20). The thread
// and its allocations add one thread and a few KiB to what the soak reports. See bench/RESULTS.md
// ("what docker-api's first minutes' growth is").
//
//   gcc -O1 -shared -fPIC -o /tmp/malloc_stats.so crates/bench/tools/malloc_stats.c -lpthread
//   LD_PRELOAD=/tmp/malloc_stats.so MSTAT_DIR=/tmp/soak MSTAT_SECONDS=30 \
//     target/release/bench soak --only docker-api --minutes 12 --sample-seconds 60
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static void *loop(void *arg) {
  (void)arg;
  const char *dir = getenv("MSTAT_DIR");
  const char *secs = getenv("MSTAT_SECONDS");
  int every = secs ? atoi(secs) : 20;
  char path[512];
  snprintf(path, sizeof path, "%s/mstat.log", dir ? dir : "/tmp");
  time_t t0 = time(NULL);
  for (;;) {
    FILE *f = fopen(path, "a");
    if (f) {
      struct mallinfo2 m = mallinfo2();
      fprintf(f, "T %ld arena %zu hblkhd %zu uordblks %zu fordblks %zu keepcost %zu\n",
              (long)(time(NULL) - t0), m.arena, m.hblkhd, m.uordblks, m.fordblks, m.keepcost);
      malloc_info(0, f);
      fclose(f);
    }
    sleep(every);
  }
  return NULL;
}
__attribute__((constructor)) static void start(void) {
  if (strcmp(program_invocation_short_name, "docker-api") != 0) return;
  pthread_t t;
  pthread_create(&t, NULL, loop, NULL);
  pthread_detach(t);
}
