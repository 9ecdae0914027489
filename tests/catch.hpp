// The one include of Catch2 for the tests: Debian 12 ships Catch2 2 (one
// header, catch.hpp) and Debian 13 Catch2 3 (a library and a header per
// part), and every test case builds against both through this file.
// SPDX-License-Identifier: MIT
#pragma once

#if defined(WS_TEST_DOCTEST)
// The Windows build (tests/cross/mingw64.txt): doctest, which has Catch's
// assertions under the same names; a test case's tags and SECTION are
// spelled differently. (Catch's GENERATE it lacks: no test built for
// Windows uses it.)
#include <doctest/doctest.h>
#undef TEST_CASE
#define WS_TEST_NAME(name, ...) name
#define TEST_CASE(...) DOCTEST_TEST_CASE(WS_TEST_NAME(__VA_ARGS__, ""))
#define SECTION(name) DOCTEST_SUBCASE(name)
#elif __has_include(<catch2/catch_test_macros.hpp>)
// Catch2 3.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#else
// Catch2 2.
#include <catch2/catch.hpp>
#endif

#include <string>

namespace test {

/// A matcher for CHECK_THROWS_WITH: the message holds `part`. (Catch2 3
/// renamed Catch::Contains to Catch::Matchers::ContainsSubstring.)
inline auto contains(const std::string &part) {
#if defined(WS_TEST_DOCTEST)
  return doctest::Contains(part.c_str());
#elif __has_include(<catch2/catch_test_macros.hpp>)
  return Catch::Matchers::ContainsSubstring(part);
#else
  return Catch::Contains(part);
#endif
}

} // namespace test
