/* How the process ends decides what is a root. The pointer lives only in
 * a local of main:
 *   return  main returns: its frame is dead, the block is lost
 *   exit    main calls exit(0): its frame is live, the block is reachable
 *   _exit   main calls _exit(0): the same, and the exit sweep still runs */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "common.h"

int main(int argc, char **argv)
{
	struct obj *volatile local = new_obj();
	escape((void *)&local);
	if (argc > 1 && strcmp(argv[1], "exit") == 0)
		exit(0);
	if (argc > 1 && strcmp(argv[1], "_exit") == 0)
		_exit(0);
	return 0;
}
