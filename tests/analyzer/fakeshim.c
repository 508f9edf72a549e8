/*
 * fakeshim.c: a do-nothing library that `refsweep run --shim` preloads in
 * the analyzer's tests, so run is tested without the real shim: the
 * wrapped program (tracegen) writes the trace itself.
 */
int rs_test_fakeshim_loaded(void);

int rs_test_fakeshim_loaded(void)
{
	return 1;
}
