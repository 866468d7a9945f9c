/* fuzz_config.c: sprofd.conf(5) text through config_parse. A configuration
 * that parses is printed (config_print promises a valid configuration
 * that means the same), and the printed text must parse again and print
 * the same; every target must be found by its name.
 *
 * glibc's regcomp takes time and memory exponential in stacked repetitions
 * ("x+++++++++++++++++++++" needs seconds and gigabytes) and expands
 * bounded ones ("(a|b){2,20000}" is gigabytes too), and a Process cmdline
 * line hands it the expression as written. The file is root's, so that is
 * no way in, but every run would end out of memory: inputs with more than
 * a dozen repetition operators, more than two bounds or a bound above 100
 * are skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

#define PATH "fuzz.conf"

/* config_print into a string the caller frees. */
static char *print_mem(const struct config *c, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	FUZZ_CHECK(f, "open_memstream failed");
	config_print(c, f);
	FUZZ_CHECK(fclose(f) == 0, "fclose failed");
	return buf;
}

/* Whether data may hold a regular expression that glibc cannot compile in
 * reasonable time and memory. */
static bool regex_heavy(const uint8_t *data, size_t size)
{
	size_t reps = 0, bounds = 0;

	for (size_t i = 0; i < size; i++) {
		reps += data[i] == '+' || data[i] == '*' || data[i] == '?' || data[i] == '{';
		if (data[i] != '{')
			continue;
		bounds++;
		/* Every number up to the closing brace. */
		for (size_t j = i + 1, v = 0; j < size && data[j] != '}' && data[j] != '\n'; j++) {
			v = data[j] >= '0' && data[j] <= '9' ? v * 10 + (data[j] - '0') : 0;
			if (v > 100)
				return true;
		}
	}
	return reps > 12 || bounds > 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c, *again;
	char *text, *text2;
	size_t len, len2;

	if (regex_heavy(data, size))
		return 0;
	c = config_parse(PATH, (const char *)data, size);
	if (!c)
		return 0;
	for (size_t i = 0; i < c->ntargets; i++)
		FUZZ_CHECK(config_target(c, c->targets[i].name) == &c->targets[i],
			   "target %zu not found by its name", i);
	config_print(c, fuzz_devnull());

	text = print_mem(c, &len);
	again = config_parse(PATH, text, len);
	FUZZ_CHECK(again, "the printed configuration does not parse");
	FUZZ_CHECK(again->ntargets == c->ntargets, "%zu targets, then %zu", c->ntargets,
		   again->ntargets);
	text2 = print_mem(again, &len2);
	FUZZ_CHECK(len == len2 && memcmp(text, text2, len) == 0,
		   "printing the printed configuration gives other text");
	free(text);
	free(text2);
	config_free(again);
	config_free(c);
	return 0;
}
