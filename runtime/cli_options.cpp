#include "cli_options.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "suggest.hpp"

namespace weft {

OptionParser::OptionParser(std::string prog, std::string usage, std::string about)
    : prog_(std::move(prog)), usage_(std::move(usage)), about_(std::move(about)) {}

void OptionParser::flag(const std::string& name, const std::string& help, std::function<void()> on) {
  specs_.push_back(Spec{name, "", help, std::move(on), nullptr});
}

void OptionParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                          std::function<void(const std::string&)> set, bool ends_options) {
  specs_.push_back(Spec{name, metavar, help, nullptr, std::move(set), ends_options});
}

void OptionParser::alias(const std::string& alias, const std::string& name) { aliases_.emplace_back(alias, name); }

const OptionParser::Spec* OptionParser::find(const std::string& name) const {
  std::string n = name;
  for (const auto& [a, target] : aliases_)
    if (a == n) n = target;
  for (const Spec& s : specs_)
    if (s.name == n) return &s;
  return nullptr;
}

std::vector<std::string> OptionParser::parse(const std::vector<std::string>& args, std::size_t from,
                                             bool stop_at_positional) {
  std::vector<std::string> positional;
  for (std::size_t i = from; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional.insert(positional.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      if (stop_at_positional) {
        positional.insert(positional.end(), args.begin() + static_cast<long>(i), args.end());
        break;
      }
      positional.push_back(arg);
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      std::fputs(help_text().c_str(), stdout);
      return positional;
    }
    std::string name = arg, value;
    bool inline_value = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    const Spec* spec = find(name);
    if (!spec) {
      std::vector<std::string_view> names;
      for (const Spec& s : specs_) names.push_back(s.name);
      names.push_back("--help");
      throw UsageError{fmt::format("unknown option '{}'{}", name, did_you_mean(name, names))};
    }
    if (spec->metavar.empty()) {
      if (inline_value) throw UsageError{fmt::format("{} takes no value (got '{}')", spec->name, arg)};
      spec->on_flag();
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size())
        throw UsageError{fmt::format("{} needs a value: {} {} or {}={}", spec->name, spec->name, spec->metavar,
                                     spec->name, spec->metavar)};
      value = args[++i];
    }
    spec->on_value(value);
    if (spec->ends_options) {
      positional.insert(positional.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
  }
  return positional;
}

std::string OptionParser::help_text() const {
  std::string out = usage_;
  if (!out.empty() && out.back() != '\n') out += '\n';
  if (!about_.empty()) out += "\n" + about_ + (about_.back() == '\n' ? "" : "\n");
  if (!specs_.empty()) {
    out += "\nOptions:\n";
    std::vector<std::string> left;
    std::size_t w = 0;
    for (const Spec& s : specs_) {
      std::string l = s.metavar.empty() ? s.name : s.name + " " + s.metavar;
      w = std::max(w, l.size());
      left.push_back(l);
    }
    w = std::min<std::size_t>(w, 28);
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      if (left[i].size() > w)
        out += fmt::format("  {}\n  {:{}}  {}\n", left[i], "", w, specs_[i].help);
      else
        out += fmt::format("  {:{}}  {}\n", left[i], w, specs_[i].help);
    }
    out += fmt::format("  {:{}}  {}\n", "--help", w, "show this help and exit");
    out += "\nOptions that take a value accept both --opt=VALUE and --opt VALUE.\n";
  }
  if (!epilog_.empty()) out += "\n" + epilog_ + (epilog_.back() == '\n' ? "" : "\n");
  return out;
}

int OptionParser::report(const UsageError& e) const {
  std::fflush(stdout);
  fmt::print(stderr, "{}: {}\n(run '{} --help' for usage)\n", prog_, e.message, prog_);
  return 2;
}

double parse_number_option(const std::string& option, const std::string& value, double lo, double hi,
                           const std::string& what) {
  char* end = nullptr;
  double d = std::strtod(value.c_str(), &end);
  if (value.empty() || *end || std::isnan(d) || d < lo || d > hi)
    throw UsageError{fmt::format("bad {} '{}' ({})", option, value, what)};
  return d;
}

}  // namespace weft
