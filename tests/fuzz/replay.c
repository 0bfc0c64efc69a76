/*
 * replay.c: run a fuzz target once over every file of the corpus folders
 * given (missing folders are skipped), for make test without libFuzzer.
 * Prints how many inputs ran; a crash or sanitizer report fails the run.
 */
#include "common/tr.h"
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INPUT_MAX (8u << 20)

static size_t run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[1024], err[256];
		struct stat st;
		uint8_t *buf;
		size_t len;
		if (e->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			n += run_dir(path);
			continue;
		}
		if (tr_read_file(path, INPUT_MAX, &buf, &len, err, sizeof(err)) != TR_OK)
			continue;
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	size_t n = 0;
	for (int i = 1; i < argc; i++)
		n += run_dir(argv[i]);
	printf("%s: %zu inputs replayed\n", argv[0], n);
	return n ? 0 : 1;
}
