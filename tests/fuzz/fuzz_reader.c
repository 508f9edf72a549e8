/*
 * fuzz_reader.c: libFuzzer target for the trace reader and the model
 * behind every report. The input is one or more traces separated by a
 * line "--" (so fork and exec links between images are reached too); each
 * is read as a trace file would be, then the run is modelled and the JSON
 * report built. Symbolization is off: module paths in fuzzed input must
 * not make the target open arbitrary files.
 *
 * Built and run by tests/fuzz/run-fuzz.sh.
 */
#define _GNU_SOURCE 1
#include <stdlib.h>
#include <string.h>

#include "rs.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct rs_result *r = result_new("fuzz");
	int n = 0;
	bool ok = true;

	symbolizer_init(false);
	rs_quiet_notes = true;
	while (p <= end && ok && n < 8) {
		const char *sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
		size_t len = sep ? (size_t)(sep - p) + 1 : (size_t)(end - p);
		char name[32], *err = NULL;
		struct rs_image *im;

		snprintf(name, sizeof(name), "f.%d.1.rsj", n++);
		im = image_read_mem(name, p, len, &err);
		if (!im) {
			free(err);
			ok = false;
		} else if (im->empty) {
			image_free(im);
		} else {
			result_add_image(r, im);
		}
		if (!sep)
			break;
		p = sep + 4;
	}
	if (ok) {
		result_build(r);
		result_finish(r);
		json_decref(report_json_doc(r));
	}
	result_free(r);
	symbolizer_end();
	return 0;
}
