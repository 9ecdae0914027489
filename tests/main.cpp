// Catch2's main, compiled once for every test executable. No tests here.
// SPDX-License-Identifier: MIT
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
