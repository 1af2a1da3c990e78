/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The entry point every COLO-proxy fuzz target defines (libFuzzer's),
 * used by libFuzzer itself and by replay-main.c.
 */

#ifndef TESTS_FUZZ_COLO_FUZZ_H
#define TESTS_FUZZ_COLO_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* TESTS_FUZZ_COLO_FUZZ_H */
