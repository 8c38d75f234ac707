// MockServer, which loads the HTTP server module on first use, and the
// `weft mock-api` command. The server itself is in mock_server_httplib.cpp.
#include "stdlib/mock_server.hpp"

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

const char* kUsage =
    "usage: weft mock-api [--port P] [--latency MS] [--fail-rate F] [--seed S] [--threads N] [--rate-limit N]\n"
    "\n"
    "Serves a fake external API on 127.0.0.1 until SIGINT/SIGTERM.\n"
    "  --port P        port to listen on (0 picks a free one; default 0)\n"
    "  --latency MS    delay of /users/ID responses in milliseconds (default 0)\n"
    "  --fail-rate F   fraction of /users/ID requests answered with 503 (0..1, default 0)\n"
    "  --seed S        seed of the failure sequence (default 0)\n"
    "  --threads N     request-handling threads (default 64)\n"
    "  --rate-limit N  answer /users/ID with 429 and Retry-After beyond N requests/s (default 0: none)\n"
    "Routes: GET /users/ID, GET /slow?ms=N, GET /status/CODE, POST /echo,\n"
    "        POST /outage?seconds=S (every /users/ID fails with 503 for S seconds), GET /stats\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "weft mock-api: %s\n(run 'weft mock-api --help' for usage)\n", msg.c_str());
  return 2;
}

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
  int i = 1;
  if (i < argc && std::string_view(argv[i]) == "mock-api") i++;
  for (; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string name = arg, value;
    bool has_value = false;
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (name != "--port" && name != "--latency" && name != "--fail-rate" && name != "--seed" && name != "--threads" &&
        name != "--rate-limit")
      return usage_error(fmt::format("unknown option '{}'", arg));
    if (!has_value) {
      if (i + 1 >= argc) return usage_error(fmt::format("option '{}' needs a value", name));
      value = argv[++i];
    }
    if (name == "--port") {
      std::uint64_t p;
      if (!parse_u64(value, p) || p > 65535) return usage_error(fmt::format("invalid port '{}'", value));
      opts.port = static_cast<int>(p);
    } else if (name == "--latency") {
      if (!parse_double(value, opts.latency_ms) || opts.latency_ms < 0)
        return usage_error(fmt::format("invalid latency '{}' (milliseconds >= 0)", value));
    } else if (name == "--fail-rate") {
      if (!parse_double(value, opts.fail_rate) || opts.fail_rate < 0 || opts.fail_rate > 1)
        return usage_error(fmt::format("invalid fail rate '{}' (0..1)", value));
    } else if (name == "--seed") {
      if (!parse_u64(value, opts.seed)) return usage_error(fmt::format("invalid seed '{}'", value));
    } else if (name == "--threads") {
      std::uint64_t n;
      if (!parse_u64(value, n) || n < 1 || n > 1024) return usage_error(fmt::format("invalid thread count '{}'", value));
      opts.threads = static_cast<int>(n);
    } else if (name == "--rate-limit") {
      std::uint64_t n;
      if (!parse_u64(value, n) || n > 1000000) return usage_error(fmt::format("invalid rate limit '{}' (requests per second)", value));
      opts.rate_limit = static_cast<int>(n);
    }
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
