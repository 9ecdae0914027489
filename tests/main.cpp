// Catch2's main, compiled once for every test executable. No tests here.
// Written out rather than CATCH_CONFIG_MAIN, which Catch2 3 no longer reads.
// SPDX-License-Identifier: MIT
#if __has_include(<catch2/catch_session.hpp>)
#include <catch2/catch_session.hpp> // Catch2 3
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp> // Catch2 2
#endif

int main(int argc, char *argv[]) { return Catch::Session().run(argc, argv); }
