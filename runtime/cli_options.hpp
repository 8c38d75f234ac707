// The one command-line option parser of `weft` and all its sub-commands
// (SPEC §1): every option that takes a value accepts `--opt=V` and
// `--opt V`, `--help` prints the sub-command's help, and a misspelt option
// gets a "did you mean" hint. Sub-commands declare their options and get
// their positional arguments back; validation of values stays with them.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace weft {

// Thrown for bad usage; the caller prints "PROG: MESSAGE" and exits 2.
struct UsageError {
  std::string message;
};

class OptionParser {
 public:
  // `prog` is what messages start with ("weft test"); `usage` the usage
  // lines and `about` a paragraph, both shown by --help.
  OptionParser(std::string prog, std::string usage, std::string about = "");

  // An option without a value (`--quiet`).
  void flag(const std::string& name, const std::string& help, std::function<void()> on);
  // An option with a value (`--port 8080` / `--port=8080`). `set` may throw
  // UsageError for a bad value.
  // With `ends_options`, the arguments after its value are returned as
  // positionals untouched (`weft -e CODE ARGS...`).
  void option(const std::string& name, const std::string& metavar, const std::string& help,
              std::function<void(const std::string&)> set, bool ends_options = false);
  // Another spelling of an option declared before (`-h` for `--help`).
  void alias(const std::string& alias, const std::string& name);
  // Free text printed at the end of --help (examples, notes).
  void epilog(std::string text) { epilog_ = std::move(text); }

  // Parses args[from..]. With `stop_at_positional`, the first positional
  // argument and everything after it are returned untouched (a script's
  // own arguments); otherwise options and positionals may mix, and `--`
  // ends the options. "-" alone is a positional. Returns the positionals.
  // Returns with `help_requested()` set when --help was given (after
  // printing the help to stdout). Throws UsageError.
  std::vector<std::string> parse(const std::vector<std::string>& args, std::size_t from, bool stop_at_positional);
  bool help_requested() const { return help_; }

  std::string help_text() const;
  const std::string& prog() const { return prog_; }
  // Prints "PROG: MESSAGE" and a pointer to --help on stderr; returns 2.
  int report(const UsageError& e) const;

 private:
  struct Spec {
    std::string name;
    std::string metavar;  // empty: a flag
    std::string help;
    std::function<void()> on_flag;
    std::function<void(const std::string&)> on_value;
    bool ends_options = false;
  };
  const Spec* find(const std::string& name) const;

  std::string prog_, usage_, about_, epilog_;
  std::vector<Spec> specs_;
  std::vector<std::pair<std::string, std::string>> aliases_;
  bool help_ = false;
};

// Parses a number for an option and checks its range; throws UsageError
// naming the option otherwise.
double parse_number_option(const std::string& option, const std::string& value, double lo, double hi,
                           const std::string& what);

}  // namespace weft
