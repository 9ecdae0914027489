// Catch2's main, compiled once for every test executable. No tests here.
// Written out rather than CATCH_CONFIG_MAIN, which Catch2 3 no longer reads.
// SPDX-License-Identifier: MIT
#if defined(WS_TEST_DOCTEST)
// doctest (the Windows build; see catch.hpp). Like Catch's --warn NoTests,
// a run whose filters match no test case fails.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

namespace {
int matched = -1;
struct CountMatched : doctest::IReporter {
  explicit CountMatched(const doctest::ContextOptions &) {}
  void test_run_end(const doctest::TestRunStats &stats) override {
    matched = static_cast<int>(stats.numTestCasesPassingFilters);
  }
  void report_query(const doctest::QueryData &) override {}
  void test_run_start() override {}
  void test_case_start(const doctest::TestCaseData &) override {}
  void test_case_reenter(const doctest::TestCaseData &) override {}
  void test_case_end(const doctest::CurrentTestCaseStats &) override {}
  void test_case_exception(const doctest::TestCaseException &) override {}
  void subcase_start(const doctest::SubcaseSignature &) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData &) override {}
  void log_message(const doctest::MessageData &) override {}
  void test_case_skipped(const doctest::TestCaseData &) override {}
};
} // namespace
DOCTEST_REGISTER_LISTENER("count-matched", 1, CountMatched);

int main(int argc, char *argv[]) {
  doctest::Context context(argc, argv);
  const int failed = context.run();
  if (failed || context.shouldExit())
    return failed;
  if (matched == 0) {
    std::cerr << "no test case matched the filters\n";
    return 1;
  }
  return 0;
}
#else
#if __has_include(<catch2/catch_session.hpp>)
#include <catch2/catch_session.hpp> // Catch2 3
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp> // Catch2 2
#endif

int main(int argc, char *argv[]) { return Catch::Session().run(argc, argv); }
#endif
