/* A block lost before fork is lost in both processes but counts once (it
 * is the parent's); a block lost in the child is the child's. */
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

static NOINLINE void lose_in_parent(void) { new_obj(); }
static NOINLINE void lose_in_child(void) { new_obj(); new_obj(); }

int main(void)
{
	lose_in_parent();
	pid_t pid = fork();
	if (pid == 0) {
		lose_in_child();
		return 0;
	}
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
