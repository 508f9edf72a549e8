# Stacks, options and the event stream: the trace layer of librefsweep.so.
librefsweep_la_SOURCES += \
	preload/options.c preload/options.h \
	preload/writer.c preload/writer.h \
	preload/unwind.c preload/unwind.h \
	preload/stackdepot.c \
	preload/dl.c
