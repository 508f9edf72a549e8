# The reachability sweep: stopping the world, roots, marking, classification,
# triggers and the program-facing API table.
librefsweep_la_SOURCES += \
	preload/stop.c preload/stop.h \
	preload/roots.c preload/roots.h \
	preload/mark.c preload/mark.h \
	preload/classify.c preload/classify.h \
	preload/sweep.c preload/sweep.h \
	preload/api.c
