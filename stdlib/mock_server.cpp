// MockServer, which loads the HTTP server module on first use, and the
// `weft mock-api` command. The server itself is in mock_server_httplib.cpp.
#include "stdlib/mock_server.hpp"
#include "runtime/cli_options.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "stdlib/modules.hpp"

#ifndef WEFT_MODULE_DIR
#define WEFT_MODULE_DIR ""
#endif

namespace weft {

namespace {

using CreateFn = MockServerBackend* (*)();

// The module is looked for next to the running executable first (the build
// directory, or an installed bin/ with its module beside it), then in the
// build directory this binary was configured in.
CreateFn load_module(std::string& error) {
  static std::once_flag once;
  static CreateFn create = nullptr;
  static std::string load_error;
  std::call_once(once, [] {
    std::vector<std::string> candidates;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      std::string dir(exe, static_cast<std::size_t>(n));
      dir = dir.substr(0, dir.find_last_of('/') + 1);
      candidates.push_back(dir + "libweft_mockapi.so");
    }
    if (WEFT_MODULE_DIR[0]) candidates.push_back(std::string(WEFT_MODULE_DIR) + "/libweft_mockapi.so");
    std::string why;
    for (const auto& path : candidates) {
      void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!lib) {
        const char* e = dlerror();
        if (why.empty() || access(path.c_str(), F_OK) == 0) why = e ? e : path + ": cannot load";
        continue;
      }
      create = reinterpret_cast<CreateFn>(dlsym(lib, "weft_mockapi_create"));
      if (create) return;
      why = path + ": not a Weft mock-api module (no weft_mockapi_create)";
    }
    load_error = fmt::format("the mock API server module libweft_mockapi.so is not available ({})", why);
  });
  error = load_error;
  return create;
}

}  // namespace

MockServer::MockServer() = default;

MockServer::~MockServer() { stop(); }

int MockServer::start(const MockServerOptions& opts) {
  if (!impl_) {
    std::string error;
    CreateFn create = load_module(error);
    if (!create) throw std::runtime_error(error);
    impl_.reset(create());
  }
  return impl_->start(opts);
}

void MockServer::stop() {
  if (impl_) impl_->stop();
}

bool MockServer::running() const { return impl_ && impl_->running(); }

int MockServer::port() const { return impl_ ? impl_->port() : 0; }

std::string MockServer::url() const { return fmt::format("http://127.0.0.1:{}", port()); }

std::uint64_t MockServer::requests() const { return impl_ ? impl_->requests() : 0; }

}  // namespace weft

namespace weft {

// ------------------------------------------------------------ weft mock-api

namespace {

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(s.c_str(), &end);
  return *end == '\0' && errno == 0 && std::isfinite(out);
}

bool parse_u64(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s[0] == '-') return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtoull(s.c_str(), &end, 10);
  return *end == '\0' && errno == 0;
}

}  // namespace

int mock_api_main(int argc, char** argv) {
  MockServerOptions opts;
  // The one option parser of every sub-command (runtime/cli_options.hpp).
  OptionParser p("weft mock-api", "usage: weft mock-api [--port P] [--latency MS] [--fail-rate F] [--seed S] [--threads N] [--rate-limit N]",
                 "Serves a fake external API on 127.0.0.1 until SIGINT/SIGTERM.\n"
                 "Routes: GET /users/ID, GET /slow?ms=N, GET /status/CODE, POST /echo,\n"
                 "        POST /outage?seconds=S (every /users/ID fails with 503 for S seconds), GET /stats");
  p.option("--port", "P", "port to listen on (0 picks a free one; default 0)", [&](const std::string& v) {
    std::uint64_t n;
    if (!parse_u64(v, n) || n > 65535) throw UsageError{fmt::format("invalid port '{}'", v)};
    opts.port = static_cast<int>(n);
  });
  p.option("--latency", "MS", "delay of /users/ID responses in milliseconds (default 0)", [&](const std::string& v) {
    if (!parse_double(v, opts.latency_ms) || opts.latency_ms < 0)
      throw UsageError{fmt::format("invalid latency '{}' (milliseconds >= 0)", v)};
  });
  p.option("--fail-rate", "F", "fraction of /users/ID requests answered with 503 (0..1, default 0)",
           [&](const std::string& v) {
             if (!parse_double(v, opts.fail_rate) || opts.fail_rate < 0 || opts.fail_rate > 1)
               throw UsageError{fmt::format("invalid fail rate '{}' (0..1)", v)};
           });
  p.option("--seed", "S", "seed of the failure sequence (default 0)", [&](const std::string& v) {
    if (!parse_u64(v, opts.seed)) throw UsageError{fmt::format("invalid seed '{}'", v)};
  });
  p.option("--threads", "N", "request-handling threads (default 64)", [&](const std::string& v) {
    std::uint64_t n;
    if (!parse_u64(v, n) || n < 1 || n > 1024) throw UsageError{fmt::format("invalid thread count '{}'", v)};
    opts.threads = static_cast<int>(n);
  });
  p.option("--rate-limit", "N", "answer /users/ID with 429 and Retry-After beyond N requests/s (default 0: none)",
           [&](const std::string& v) {
             std::uint64_t n;
             if (!parse_u64(v, n) || n > 1000000)
               throw UsageError{fmt::format("invalid rate limit '{}' (requests per second)", v)};
             opts.rate_limit = static_cast<int>(n);
           });
  try {
    std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);  // argv[0] is "mock-api"
    std::vector<std::string> rest = p.parse(args, !args.empty() && args[0] == "mock-api" ? 1 : 0, false);
    if (p.help_requested()) return 0;
    if (!rest.empty()) throw UsageError{fmt::format("unexpected argument '{}'", rest[0])};
  } catch (const UsageError& e) {
    return p.report(e);
  }

  // Block the stop signals before any thread starts, so every server thread
  // inherits the mask and only sigwait below receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  MockServer server;
  int port;
  try {
    port = server.start(opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft mock-api: %s\n", e.what());
    return 1;
  }
  std::printf("listening on http://127.0.0.1:%d\n", port);
  std::fflush(stdout);

  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  server.stop();
  std::fprintf(stderr, "weft mock-api: stopped (%s), %llu requests served\n", strsignal(sig),
               static_cast<unsigned long long>(server.requests()));
  return 0;
}

}  // namespace weft
