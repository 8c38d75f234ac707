// The fake external API's HTTP server (see mock_server.hpp), on cpp-httplib.
//
// This file is built as its own loadable module, libweft_mockapi.so, which
// the interpreter opens with dlopen() the first time a mock server starts:
// cpp-httplib links OpenSSL, zlib and Brotli, and loading those at every
// start-up would cost every script a few milliseconds for a server that
// few of them run. The module's only entry point is weft_mockapi_create().
//
// Debian's cpp-httplib is a compiled library (libcpp-httplib) built with
// OpenSSL, zlib and Brotli support; the header must be included with the
// same configuration macros so the class layouts match the library.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include "stdlib/mock_server.hpp"

#include <fmt/format.h>
#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>


namespace weft {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Writing to a socket whose peer went away must not kill the process.
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      struct sigaction sa {};
      sa.sa_handler = SIG_IGN;
      sigemptyset(&sa.sa_mask);
      sigaction(SIGPIPE, &sa, nullptr);
    }
  });
}

const char* kJson = "application/json";

}  // namespace

struct HttplibMockServer final : MockServerBackend {
  ~HttplibMockServer() override { stop(); }
  int start(const MockServerOptions& opts) override;
  void stop() override;
  bool running() const override;
  int port() const override { return bound_port; }
  std::uint64_t requests() const override { return all_requests.load(); }

  httplib::Server svr;
  std::thread listener;
  int listen_fd = -1;
  std::atomic<bool> listen_done{false};
  MockServerOptions opts;
  int bound_port = 0;
  bool started = false;

  mutable std::mutex mu;  // guards stopping, started; used by waits
  std::condition_variable cv;
  bool stopping = false;
  std::mutex stop_mu;  // serializes stop()

  std::atomic<std::uint64_t> user_requests{0};
  std::atomic<std::uint64_t> users_total{0}, rate_limited{0}, outage_failed{0};
  // Rate limit window and outage (under mu).
  std::uint64_t window_sec = 0;
  int window_count = 0;
  std::chrono::steady_clock::time_point outage_until{};

  // True when this /users/ID request is beyond the rate limit; `retry` is
  // the whole seconds until the window ends.
  bool over_rate(int& retry) {
    if (opts.rate_limit <= 0) return false;
    auto now = std::chrono::steady_clock::now();
    std::uint64_t sec = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
    std::lock_guard<std::mutex> lk(mu);
    if (sec != window_sec) {
      window_sec = sec;
      window_count = 0;
    }
    retry = 1;
    return ++window_count > opts.rate_limit;
  }

  bool in_outage() {
    std::lock_guard<std::mutex> lk(mu);
    return std::chrono::steady_clock::now() < outage_until;
  }
  std::atomic<std::uint64_t> all_requests{0};

  // Waits `ms` milliseconds or until stop(); false when stopped.
  bool wait_ms(double ms) {
    if (!(ms > 0)) return true;
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::microseconds(static_cast<std::int64_t>(ms * 1000.0));
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_until(lk, deadline, [&] { return stopping; });
    return !stopping;
  }

  bool should_fail() {
    std::uint64_t k = user_requests.fetch_add(1, std::memory_order_relaxed);
    if (!(opts.fail_rate > 0)) return false;
    if (opts.fail_rate >= 1) return true;
    double u = static_cast<double>(splitmix64(opts.seed * 0x100000001B3ull + k) >> 11) * 0x1.0p-53;
    return u < opts.fail_rate;
  }

  void setup_routes() {
    svr.set_tcp_nodelay(true);
    // cpp-httplib listens with a backlog of 5: a burst of connections (N job
    // workers starting at once) overflows it and the dropped SYNs are
    // retried only after a second. Remember the listening socket so start()
    // can raise the backlog (listen() again updates it on Linux).
    svr.set_socket_options([this](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_fd = sock;
    });
    svr.set_keep_alive_max_count(100000);
    // Idle keep-alive connections hold a pool thread and delay stop() by up
    // to this long (cpp-httplib polls them), so keep it short.
    svr.set_keep_alive_timeout(1);
    int nthreads = opts.threads > 0 ? opts.threads : 64;
    svr.new_task_queue = [nthreads] { return new httplib::ThreadPool(static_cast<std::size_t>(nthreads)); };

    svr.set_pre_routing_handler([this](const httplib::Request&, httplib::Response&) {
      all_requests.fetch_add(1, std::memory_order_relaxed);
      return httplib::Server::HandlerResponse::Unhandled;
    });

    svr.Get(R"(/users/(-?\d{1,18}))", [this](const httplib::Request& req, httplib::Response& res) {
      long long id = std::strtoll(req.matches[1].str().c_str(), nullptr, 10);
      users_total.fetch_add(1, std::memory_order_relaxed);
      int retry = 0;
      if (over_rate(retry)) {
        rate_limited.fetch_add(1, std::memory_order_relaxed);
        res.status = 429;
        res.set_header("Retry-After", std::to_string(retry));
        res.set_content(R"({"error":"too many requests"})", kJson);
        return;
      }
      if (in_outage()) {
        outage_failed.fetch_add(1, std::memory_order_relaxed);
        res.status = 503;
        res.set_content(fmt::format(R"({{"error":"outage","id":{}}})", id), kJson);
        return;
      }
      bool fail = should_fail();
      if (!wait_ms(opts.latency_ms)) {
        res.status = 503;
        res.set_content(R"({"error":"server stopping"})", kJson);
        return;
      }
      if (fail) {
        res.status = 503;
        res.set_content(fmt::format(R"({{"error":"service unavailable","id":{}}})", id), kJson);
        return;
      }
      res.status = 200;
      res.set_content(fmt::format(R"({{"id":{},"name":"user-{}"}})", id, id), kJson);
    });

    svr.Get("/slow", [this](const httplib::Request& req, httplib::Response& res) {
      long long ms = 1000;
      if (req.has_param("ms")) {
        std::string v = req.get_param_value("ms");
        char* end = nullptr;
        errno = 0;
        ms = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || errno != 0 || ms < 0 || ms > 3600000) {
          res.status = 400;
          res.set_content(R"({"error":"ms must be an integer between 0 and 3600000"})", kJson);
          return;
        }
      }
      if (!wait_ms(static_cast<double>(ms))) {
        res.status = 503;
        res.set_content(R"({"error":"server stopping"})", kJson);
        return;
      }
      res.status = 200;
      res.set_content(fmt::format(R"({{"slept_ms":{}}})", ms), kJson);
    });

    svr.Get(R"(/status/(\d{1,3}))", [](const httplib::Request& req, httplib::Response& res) {
      int code = std::atoi(req.matches[1].str().c_str());
      if (code < 200 || code > 599) {
        res.status = 400;
        res.set_content(R"({"error":"status must be between 200 and 599"})", kJson);
        return;
      }
      res.status = code;
      if (code != 204 && code != 304) res.set_content(fmt::format(R"({{"status":{}}})", code), kJson);
    });

    svr.Post("/outage", [this](const httplib::Request& req, httplib::Response& res) {
      double secs = 0;
      std::string v = req.has_param("seconds") ? req.get_param_value("seconds") : "";
      char* end = nullptr;
      secs = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(secs >= 0) || secs > 86400) {
        res.status = 400;
        res.set_content(R"({"error":"seconds must be a number between 0 and 86400"})", kJson);
        return;
      }
      {
        std::lock_guard<std::mutex> lk(mu);
        outage_until = std::chrono::steady_clock::now() +
                       std::chrono::microseconds(static_cast<std::int64_t>(secs * 1e6));
      }
      res.status = 200;
      res.set_content(fmt::format(R"({{"outage_s":{}}})", v), kJson);
    });

    svr.Get("/stats", [this](const httplib::Request&, httplib::Response& res) {
      res.status = 200;
      res.set_content(fmt::format(R"({{"requests":{},"users":{},"rate_limited":{},"outage_failed":{}}})",
                                  all_requests.load(), users_total.load(), rate_limited.load(), outage_failed.load()),
                      kJson);
    });

    svr.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      std::string ct = req.get_header_value("Content-Type");
      if (ct.empty()) ct = "application/octet-stream";
      res.status = 200;
      res.set_content(req.body, ct);
    });

    auto not_found = [](const httplib::Request& req, httplib::Response& res) {
      res.status = 404;
      std::string path;
      // Keep the path printable and JSON-safe.
      for (char c : req.path)
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') path.push_back(c);
      res.set_content(fmt::format(R"({{"error":"not found","method":"{}","path":"{}"}})", req.method, path), kJson);
    };
    svr.Get(".*", not_found);
    svr.Post(".*", not_found);
    svr.Put(".*", not_found);
    svr.Patch(".*", not_found);
    svr.Delete(".*", not_found);
    svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty() && res.status != 204 && res.status != 304) {
        res.set_content(fmt::format(R"({{"error":"http {}"}})", res.status), kJson);
      }
    });
  }
};

int HttplibMockServer::start(const MockServerOptions& opts) {
  HttplibMockServer& s = *this;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    if (s.started) throw std::runtime_error("mock server already started");
    s.started = true;
  }
  if (opts.port < 0 || opts.port > 65535) throw std::runtime_error(fmt::format("invalid port {}", opts.port));
  if (!(opts.fail_rate >= 0 && opts.fail_rate <= 1)) throw std::runtime_error("fail rate must be between 0 and 1");
  if (!(opts.latency_ms >= 0) || std::isinf(opts.latency_ms)) throw std::runtime_error("latency must be >= 0");
  ignore_sigpipe_once();
  s.opts = opts;
  s.setup_routes();
  int port;
  if (opts.port == 0) {
    port = s.svr.bind_to_any_port("127.0.0.1");
    if (port <= 0) throw std::runtime_error(fmt::format("cannot bind 127.0.0.1: {}", std::strerror(errno)));
  } else {
    if (!s.svr.bind_to_port("127.0.0.1", opts.port))
      throw std::runtime_error(fmt::format("cannot bind 127.0.0.1:{}: {}", opts.port, std::strerror(errno)));
    port = opts.port;
  }
  s.bound_port = port;
  if (s.listen_fd >= 0) ::listen(s.listen_fd, 4096);
  s.listener = std::thread([&s] {
    s.svr.listen_after_bind();
    s.listen_done.store(true);
  });
  // stop() is only effective once the server runs: wait for that (startup
  // only; takes microseconds).
  while (!s.svr.is_running() && !s.listen_done.load()) std::this_thread::sleep_for(std::chrono::microseconds(200));
  return port;
}

void HttplibMockServer::stop() {
  HttplibMockServer& s = *this;
  std::lock_guard<std::mutex> stop_lk(s.stop_mu);
  {
    std::lock_guard<std::mutex> lk(s.mu);
    if (!s.started || s.stopping) {
      // Already stopped (or never started): nothing to do, but make sure a
      // concurrent first stop() finished joining (stop_mu serializes).
      return;
    }
    s.stopping = true;
  }
  s.cv.notify_all();
  s.svr.stop();
  if (s.listener.joinable()) s.listener.join();
}

bool HttplibMockServer::running() const {
  std::lock_guard<std::mutex> lk(mu);
  return started && !stopping;
}

}  // namespace weft

// The module's entry point (looked up by name with dlsym).
extern "C" __attribute__((visibility("default"))) weft::MockServerBackend* weft_mockapi_create() {
  return new weft::HttplibMockServer();
}
