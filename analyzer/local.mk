# The `refsweep` command line: trace reader, model, symbolizer (libdw),
# reports, the CI gate, run and diff. C++ names are demangled with
# __cxa_demangle from libstdc++, hence -lstdc++.
bin_PROGRAMS += refsweep
refsweep_SOURCES = \
	analyzer/rs.h \
	analyzer/util.c \
	analyzer/reader.c \
	analyzer/model.c \
	analyzer/symbolize.c \
	analyzer/gate.c \
	analyzer/report_json.c \
	analyzer/report_text.c \
	analyzer/report_formats.c \
	analyzer/run.c \
	analyzer/diff.c \
	analyzer/main.c
refsweep_CPPFLAGS = $(AM_CPPFLAGS) $(RS_PATH_CPPFLAGS)
refsweep_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(LIBDW_CFLAGS) $(ANALYZER_SAN_CFLAGS)
refsweep_LDADD = $(JANSSON_LIBS) $(LIBDW_LIBS) -lstdc++
dist_man_MANS += docs/refsweep.1
