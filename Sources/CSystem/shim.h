// What the engine needs from C that Swift's Glibc module does not export:
// glibc's allocator controls, and plain atomic loads, stores and adds on a word
// (for the worker pool's spin-wait and the memory accounting, without a Swift type whose layout could
// depend on the target CPU).
#include <malloc.h>
#include <stdatomic.h>

static inline long ms_atomic_load(const long *p) {
    return atomic_load_explicit((const _Atomic long *)p, memory_order_acquire);
}

static inline void ms_atomic_store(long *p, long value) {
    atomic_store_explicit((_Atomic long *)p, value, memory_order_release);
}

/* Adds delta and returns the new value (relaxed: a counter, not a fence). */
static inline long ms_atomic_add(long *p, long delta) {
    return atomic_fetch_add_explicit((_Atomic long *)p, delta, memory_order_relaxed) + delta;
}

static inline void ms_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}
