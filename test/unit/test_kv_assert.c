/*
 * test_kv_assert.c — the KV cache tests in an assertion-enabled build.
 *
 * kv.c is compiled into this translation unit with LLM_KV_ASSERT, so every
 * mutating pool function verifies the free list, LRU list, counters and
 * hash table after its work and aborts on the first broken invariant.  The
 * tests of test_kv.c then run against it (with a shorter stress run), plus
 * tests that need the internals.  The definitions here take precedence over
 * kv.o in libllmcore.a, which the linker then leaves out.
 */
#define LLM_KV_ASSERT 1
#include "../../src/core/kv.c"

#define TEST_KV_ASSERT_BUILD 1
#include "test_kv.c"
