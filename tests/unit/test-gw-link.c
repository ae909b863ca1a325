/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"
#include "tap.h"
int main(void)
{
	tap_plan(0);
	tap_done();
	return tap_exit();
}
