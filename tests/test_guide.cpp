// The guide cannot rot: each C++ chat example follows its JavaScript twin
// statement by statement, examples/README.md shows exactly those pairs, and
// every C++ block in the READMEs compiles (C++17, or C++20 where it
// includes a C++20 header).
// SPDX-License-Identifier: MIT
#include "support.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>

namespace {

std::string source(const std::string &path) {
  return test::env("SOURCE_ROOT") + "/" + path;
}

using test::read_lines;

std::string trim(const std::string &s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

const std::string js_tag = "// JS: ";

/// The pairs a C++ example declares: each "// JS: line" and the C++
/// statement after it (its first line, joined with continuation lines until
/// it ends with ';' or '{').
std::vector<std::pair<std::string, std::string>>
twins(const std::vector<std::string> &cpp) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (std::size_t i = 0; i < cpp.size(); ++i) {
    const std::string line = trim(cpp[i]);
    if (line.rfind(js_tag, 0) != 0)
      continue;
    std::size_t j = i + 1;
    while (j < cpp.size() && trim(cpp[j]).rfind("//", 0) == 0)
      ++j; // a C++-only comment between the two
    REQUIRE(j < cpp.size());
    std::string statement = trim(cpp[j]);
    while (!statement.empty() && statement.back() != ';' &&
           statement.back() != '{' && j + 1 < cpp.size() &&
           trim(cpp[j + 1]).rfind("//", 0) != 0)
      statement += " " + trim(cpp[++j]);
    pairs.emplace_back(line.substr(js_tag.size()), statement);
  }
  return pairs;
}

std::string code_cell(const std::string &code) {
  std::string escaped;
  for (char c : code)
    escaped += c == '|' ? std::string("\\|") : std::string(1, c);
  return escaped.find('`') == std::string::npos ? "`" + escaped + "`"
                                                : "`` " + escaped + " ``";
}

std::string table(const std::vector<std::pair<std::string, std::string>> &p) {
  std::string t = "| JavaScript | C++ |\n| --- | --- |\n";
  for (const auto &row : p)
    t += "| " + code_cell(row.first) + " | " + code_cell(row.second) + " |\n";
  return t;
}

/// With WRITE_GUIDE=1 in the environment, the test writes the tables into
/// examples/README.md instead of failing: how a changed example updates it.
void write_guide_block(const std::string &name, const std::string &text) {
  const std::string path = source("examples/README.md");
  std::string out;
  bool inside = false;
  for (const auto &line : read_lines(path)) {
    if (line == "<!-- twins: " + name + " -->") {
      inside = true;
      out += line + "\n" + text;
    } else if (inside && line == "<!-- end -->") {
      inside = false;
      out += line + "\n";
    } else if (!inside) {
      out += line + "\n";
    }
  }
  std::ofstream(path) << out;
}

/// The text between "<!-- twins: NAME -->" and the next "<!-- end -->".
std::string guide_block(const std::string &name) {
  std::string text;
  bool inside = false;
  for (const auto &line : read_lines(source("examples/README.md"))) {
    if (line == "<!-- twins: " + name + " -->") {
      inside = true;
    } else if (inside && line == "<!-- end -->") {
      return text;
    } else if (inside) {
      text += line + "\n";
    }
  }
  FAIL("examples/README.md has no twins block for " << name);
  return "";
}

} // namespace

TEST_CASE("each chat example follows its JS twin, line for line") {
  for (const std::string name :
       {"chat_server", "chat_client", "stream_client"}) {
    INFO(name);
    const auto cpp = read_lines(source("examples/" + name + ".cpp"));
    const auto js = read_lines(source("examples/js/" + name + ".js"));
    const auto pairs = twins(cpp);
    CHECK(pairs.size() >= 10);
    // Every quoted line is a line of the JS file, in the same order.
    std::size_t at = 0;
    for (const auto &p : pairs) {
      INFO(p.first);
      while (at < js.size() && trim(js[at]) != p.first)
        ++at;
      CHECK(at < js.size());
      ++at;
    }
    // The guide shows exactly these pairs.
    const std::string expected = table(pairs);
    if (std::getenv("WRITE_GUIDE"))
      write_guide_block(name, expected);
    INFO("examples/README.md should hold, for " << name << ":\n" << expected);
    CHECK(guide_block(name) == expected);
  }
}

TEST_CASE("every C++ block in the READMEs compiles") {
  std::vector<std::string> blocks;
  for (const auto &page : test::markdown_files(source("")))
    for (const auto &b : test::markdown_blocks(source(page), "cpp"))
      blocks.push_back(b);
  CHECK(blocks.size() >= 5);
  char dir[] = "/tmp/ws-guide-XXXXXX";
  REQUIRE(mkdtemp(dir));
  // All compiles at once (one shell, then `wait`): each takes seconds.
  std::string script;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    // A fragment runs inside main(), as a reader would paste it.
    std::string tu = blocks[i];
    if (tu.find("int main(") == std::string::npos)
      tu = "#include <ws/websocket.hpp>\n#include <csignal>\n"
           "#include <iostream>\n#include <string>\n#include <thread>\n"
           "int main() {\n" +
           tu + "}\n";
    const std::string file =
        std::string(dir) + "/block" + std::to_string(i) + ".cpp";
    std::ofstream(file) << tu;
    // The C++20 headers' blocks (coroutines) compile as C++20, as the
    // README tells a program that includes them to.
    const bool cxx20 = tu.find("<ws/stream.hpp>") != std::string::npos ||
                       tu.find("<ws/task.hpp>") != std::string::npos;
    script += "(" + test::env("CXX_COMMAND") + " " +
              test::env(cxx20 ? "CXX20_FLAGS" : "CXX_FLAGS") +
              " -fsyntax-only " + file + " > " + file +
              ".log 2>&1; echo $? > " + file + ".status) &\n";
  }
  script += "wait\n";
  std::system(script.c_str());
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::string file =
        std::string(dir) + "/block" + std::to_string(i) + ".cpp";
    std::ifstream status_file(file + ".status"), errors(file + ".log");
    int status = -1;
    status_file >> status;
    std::stringstream text;
    text << errors.rdbuf();
    INFO("block " << i << ":\n" << blocks[i] << "\n" << text.str());
    CHECK(status == 0);
  }
  std::system(("rm -rf " + std::string(dir)).c_str());
}

TEST_CASE("every flag a tool's --help lists, the README lists too") {
  std::string readme;
  for (const auto &line : read_lines(source("README.md")))
    readme += line + "\n";
  for (const char *tool :
       {"CHAT_SERVER", "CHAT_CLIENT", "ECHO_SERVER", "WSCAT"}) {
    test::Process help({test::env(tool), "--help"});
    const std::string text = help.read_rest();
    CHECK(help.wait() == 0);
    std::size_t flags = 0;
    for (auto at = text.find("--"); at != std::string::npos;
         at = text.find("--", at + 2)) {
      auto end = text.find_first_not_of("abcdefghijklmnopqrstuvwxyz-", at + 2);
      const std::string flag = text.substr(at, end - at);
      INFO(tool << " --help lists " << flag);
      CHECK(readme.find(flag) != std::string::npos);
      ++flags;
    }
    CHECK(flags >= 3);
  }
}
