/* distd — bulletin distribution daemon (main, signals, loop). */
#include <stdio.h>

int
main(void)
{
	fprintf(stderr, "distd: the daemon is not built yet\n");
	return 1;
}
