/* test_oncpu.c: the spacing of cpu-mode samples. Each next sample on a CPU
 * comes after a random time uniform in [period/2, 3 period/2], so that the
 * target's scheduling cannot fall into step with the samples, and the mean
 * rate stays the one asked for; the time since the sample it follows is
 * taken off, down to a floor. An end-to-end test sees only the shares that
 * result, over seconds; here the bounds and the mean are exact, over the
 * random bits the sampler itself draws (hash_u64 of a seed and a count). */
#include <stdint.h>

#include "oncpu.h"
#include "suites.h"
#include "util.h"

/* Periods of 1, 100 and 10,000 Hz, and an odd one. */
static const uint64_t periods[] = { 1000000000ull, 10000000ull, 100000ull, 999983ull };

START_TEST(test_bounds)
{
	for (size_t k = 0; k < sizeof(periods) / sizeof(periods[0]); k++) {
		uint64_t p = periods[k];
		/* The extremes of the random bits, and those that hit the ends. */
		const uint64_t rnd[] = { 0, 1, p, p + 1, 2 * p + 1, UINT64_MAX, UINT64_MAX - 1 };

		for (size_t i = 0; i < sizeof(rnd) / sizeof(rnd[0]); i++) {
			uint64_t next = oncpu_next_period(p, rnd[i], 0);

			ck_assert_msg(next >= p / 2 && next <= p / 2 + p, "period %llu rnd %llu: %llu",
				      (unsigned long long)p, (unsigned long long)rnd[i],
				      (unsigned long long)next);
		}
		ck_assert_uint_eq(oncpu_next_period(p, 0, 0), p / 2);
		ck_assert_uint_eq(oncpu_next_period(p, p, 0), p / 2 + p);
		ck_assert_uint_eq(oncpu_next_period(p, p + 1, 0), p / 2);
	}
}
END_TEST

/* Over the sampler's own random bits: every draw in bounds, the mean the
 * period (within 0.5%), and both ends of the range reached (within 1%). */
START_TEST(test_mean_and_spread)
{
	const uint64_t seed = 0x5eed5eed12345678ull;
	const int n = 200000;

	for (size_t k = 0; k < sizeof(periods) / sizeof(periods[0]); k++) {
		uint64_t p = periods[k], lo = UINT64_MAX, hi = 0;
		double sum = 0, mean;

		/* Plain comparisons in the loop: a passing ck_assert costs a
		 * message to the runner. */
		for (int i = 1; i <= n; i++) {
			uint64_t next = oncpu_next_period(p, hash_u64(seed + (uint64_t)i), 0);

			lo = next < lo ? next : lo;
			hi = next > hi ? next : hi;
			sum += (double)next;
		}
		mean = sum / n;
		ck_assert_msg(lo >= p / 2 && hi <= p / 2 + p, "period %llu: out of bounds %llu..%llu",
			      (unsigned long long)p, (unsigned long long)lo, (unsigned long long)hi);
		ck_assert_msg(mean > 0.995 * (double)p && mean < 1.005 * (double)p,
			      "period %llu: mean %.0f", (unsigned long long)p, mean);
		ck_assert_msg(lo < p / 2 + p / 100 && hi > p / 2 + p - p / 100,
			      "period %llu: range %llu..%llu", (unsigned long long)p,
			      (unsigned long long)lo, (unsigned long long)hi);
	}
}
END_TEST

/* The time since the sample is taken off, never below period/16: a late
 * read does not make the next sample come at once, nor wrap around. */
START_TEST(test_since_taken_off)
{
	uint64_t p = 10000000ull;

	ck_assert_uint_eq(oncpu_next_period(p, p, 1000), p / 2 + p - 1000);
	ck_assert_uint_eq(oncpu_next_period(p, 0, p / 4), p / 4);
	/* Exactly at the floor, and past it. */
	ck_assert_uint_eq(oncpu_next_period(p, 0, p / 2 - p / 16), p / 16);
	ck_assert_uint_eq(oncpu_next_period(p, 0, p / 2 - p / 16 - 1), p / 16 + 1);
	ck_assert_uint_eq(oncpu_next_period(p, p, 10 * p), p / 16);
	ck_assert_uint_eq(oncpu_next_period(p, 0, UINT64_MAX - p), p / 16);
	for (uint64_t since = 0; since < 3 * p; since += p / 7) {
		uint64_t next = oncpu_next_period(p, hash_u64(since), since);

		ck_assert_msg(next >= p / 16 && next <= p / 2 + p, "since %llu: %llu",
			      (unsigned long long)since, (unsigned long long)next);
	}
}
END_TEST

Suite *suite_oncpu(void)
{
	Suite *s = suite_create("oncpu");
	TCase *tc = tcase_create("jitter");

	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_mean_and_spread);
	tcase_add_test(tc, test_since_taken_off);
	suite_add_tcase(s, tc);
	return s;
}
