// The shared command-line option parser (runtime/cli_options.hpp).
#include <catch2/catch.hpp>

#include "runtime/cli_options.hpp"

using weft::OptionParser;
using weft::UsageError;

namespace {

struct Parsed {
  std::string port;
  bool quiet = false;
  std::string code;
};

OptionParser make(Parsed& p) {
  OptionParser op("weft demo", "usage: weft demo [OPTIONS] [FILE...]");
  op.option("--port", "P", "port", [&p](const std::string& v) { p.port = v; });
  op.flag("--quiet", "no output", [&p] { p.quiet = true; });
  op.option("-e", "CODE", "code", [&p](const std::string& v) { p.code = v; }, true);
  return op;
}

}  // namespace

TEST_CASE("options take --opt=V and --opt V", "[cli]") {
  for (auto args : {std::vector<std::string>{"--port", "80", "a"}, std::vector<std::string>{"a", "--port=80"}}) {
    Parsed p;
    OptionParser op = make(p);
    auto rest = op.parse(args, 0, false);
    CHECK(p.port == "80");
    CHECK(rest == std::vector<std::string>{"a"});
  }
}

TEST_CASE("stop_at_positional leaves a script's own arguments alone", "[cli]") {
  Parsed p;
  OptionParser op = make(p);
  auto rest = op.parse({"--quiet", "script.weft", "--port", "1"}, 0, true);
  CHECK(p.quiet);
  CHECK(p.port.empty());
  CHECK(rest == std::vector<std::string>{"script.weft", "--port", "1"});
}

TEST_CASE("an option that ends the options returns what follows", "[cli]") {
  Parsed p;
  OptionParser op = make(p);
  auto rest = op.parse({"-e", "print(1)", "--quiet", "x"}, 0, true);
  CHECK(p.code == "print(1)");
  CHECK_FALSE(p.quiet);
  CHECK(rest == std::vector<std::string>{"--quiet", "x"});
}

TEST_CASE("usage errors: unknown option with a hint, missing value, value on a flag", "[cli]") {
  Parsed p;
  OptionParser op = make(p);
  try {
    op.parse({"--prot", "1"}, 0, false);
    FAIL("no error");
  } catch (const UsageError& e) {
    CHECK(e.message == "unknown option '--prot' (did you mean '--port'?)");
  }
  CHECK_THROWS_AS(op.parse({"--port"}, 0, false), UsageError);
  CHECK_THROWS_AS(op.parse({"--quiet=yes"}, 0, false), UsageError);
  CHECK_THROWS_AS(weft::parse_number_option("--n", "x", 0, 1, "a number"), UsageError);
  CHECK(weft::parse_number_option("--n", "0.5", 0, 1, "a number") == 0.5);
}

TEST_CASE("--help lists every option and both spellings", "[cli]") {
  Parsed p;
  OptionParser op = make(p);
  std::string help = op.help_text();
  CHECK(help.find("--port P") != std::string::npos);
  CHECK(help.find("--quiet") != std::string::npos);
  CHECK(help.find("--opt=VALUE and --opt VALUE") != std::string::npos);
}
