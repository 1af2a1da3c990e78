/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replays fuzz inputs through a libFuzzer-style target without
 * libFuzzer, so the checked-in corpus runs under ASan/UBSan with gcc in
 * "make check".  Arguments are files or folders of files; the program
 * prints one TAP line per input.
 */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "colo-fuzz.h"

static int count;

static void replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;

    if (!f) {
        printf("not ok %d - %s (cannot open)\n", ++count, path);
        return;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    /* An exact-size heap copy, so ASan sees any read past the input. */
    buf = malloc(len ? len : 1);
    if (!buf || fread(buf, 1, len, f) != (size_t)len) {
        printf("not ok %d - %s (cannot read)\n", ++count, path);
        free(buf);
        fclose(f);
        return;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    printf("ok %d - %s\n", ++count, path);
    fflush(stdout);
}

static void replay_path(const char *path)
{
    struct stat st;
    struct dirent **names;
    int n, i;

    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        replay_file(path);
        return;
    }
    n = scandir(path, &names, NULL, alphasort);
    for (i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            size_t len = strlen(path) + strlen(names[i]->d_name) + 2;
            char *child = malloc(len);

            snprintf(child, len, "%s/%s", path, names[i]->d_name);
            replay_path(child);
            free(child);
        }
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        replay_path(argv[i]);
    }
    if (count == 0) {
        printf("not ok 1 - no input to replay\n");
        return 1;
    }
    printf("1..%d\n", count);
    return 0;
}
