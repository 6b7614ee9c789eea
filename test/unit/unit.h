/*
 * unit.h — a minimal unit-test harness for the engine core.
 *
 * Each test file defines test functions and a main() that calls RUN(fn) for
 * each, then returns unit_finish().  A failed CHECK records the file, line
 * and expression and the test continues; the binary prints
 * "N passed, N failed" (counting checks) and exits non-zero on failure.
 * Tests that need model files call unit_models_dir() and SKIP when absent.
 */
#ifndef LLM_TEST_UNIT_H
#define LLM_TEST_UNIT_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int	unit_passed;
static int	unit_failed;
static int	unit_skipped;
static const char *unit_current;

#define CHECK(cond) do { \
	if (cond) unit_passed++; \
	else { unit_failed++; \
		fprintf(stderr, "FAIL %s (%s:%d): %s\n", unit_current, __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECKF(cond, ...) do { \
	if (cond) unit_passed++; \
	else { unit_failed++; \
		fprintf(stderr, "FAIL %s (%s:%d): %s: ", unit_current, __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
} while (0)

#define CHECK_NEAR(a, b, tol) do { \
	double _a = (a), _b = (b); \
	CHECKF(fabs(_a - _b) <= (tol), "%g vs %g (tol %g)", _a, _b, (double) (tol)); \
} while (0)

#define SKIP(why) do { unit_skipped++; \
	fprintf(stderr, "SKIP %s: %s\n", unit_current, why); return; } while (0)

#define RUN(fn) do { unit_current = #fn; fn(); } while (0)

/* Directory of the shared test models ($LLM_MODELS_DIR), or NULL. */
static inline const char *
unit_models_dir(void)
{
	const char *d = getenv("LLM_MODELS_DIR");
	struct stat st;

	if (d == NULL || *d == '\0')
		d = "../shared/models";
	if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode))
		return NULL;
	return d;
}

/* Build "$LLM_MODELS_DIR/rel" into buf; NULL if the file is absent. */
static inline const char *
unit_model_path(char *buf, size_t len, const char *rel)
{
	const char *d = unit_models_dir();
	struct stat st;

	if (d == NULL)
		return NULL;
	snprintf(buf, len, "%s/%s", d, rel);
	if (stat(buf, &st) != 0)
		return NULL;
	return buf;
}

/* Directory for files the tests derive (converted/quantized models). */
static inline const char *
unit_build_dir(void)
{
	const char *b = getenv("LLM_BUILD");

	return (b && *b) ? b : "build";
}

static inline int
unit_finish(void)
{
	printf("%s: %d passed, %d failed%s\n", unit_current ? "unit" : "unit",
		   unit_passed, unit_failed, unit_skipped ? " (some tests skipped)" : "");
	return unit_failed ? 1 : 0;
}

#endif							/* LLM_TEST_UNIT_H */
