// The fake "external API" (SPEC §7.9): a small HTTP server on 127.0.0.1 used
// by demos, tests and benchmarks, both as `weft mock-api` and in-process via
// http.mock_server(). Plain C++ on cpp-httplib: it never touches the
// interpreter and never takes the GIL.
//
// Routes:
//   GET  /users/ID      {"id": ID, "name": "user-ID"} after `latency_ms`;
//                       a fraction `fail_rate` of these fail with 503
//                       (deterministic sequence from `seed`)
//   GET  /slow?ms=N     waits N ms, then {"slept_ms": N}
//   GET  /status/CODE   that status with {"status": CODE}
//   POST /echo          the request body, with the request's Content-Type
//   POST /outage?seconds=S  every /users/ID fails with 503 for S seconds
//   GET  /stats         {"requests", "users", "rate_limited", "outage_failed"}
// With `rate_limit` N, /users/ID requests beyond N in one clock second are
// answered 429 with `Retry-After: 1`.
//   anything else       404 {"error": "not found", ...}
// Every wait is a condition-variable wait that stop() interrupts, so stop()
// returns promptly even with requests in flight.
//
// The server itself (MockServerBackend) lives in a separately built module,
// libweft_mockapi.so (stdlib/mock_server_httplib.cpp), loaded on the first
// start(): cpp-httplib brings OpenSSL, zlib and Brotli with it, which every
// script would otherwise pay for at start-up.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace weft {

struct MockServerOptions {
  int port = 0;             // 0: pick a free port
  double latency_ms = 0;    // delay of /users/ID responses
  double fail_rate = 0;     // fraction of /users/ID requests answered with 503
  std::uint64_t seed = 0;   // seeds the failure sequence
  int threads = 64;         // request-handling threads
  int rate_limit = 0;       // /users/ID requests per second before 429 (0: none)
};

// What the loadable module implements; MockServer forwards to it.
class MockServerBackend {
 public:
  virtual ~MockServerBackend() = default;
  virtual int start(const MockServerOptions& opts) = 0;
  virtual void stop() = 0;
  virtual bool running() const = 0;
  virtual int port() const = 0;
  virtual std::uint64_t requests() const = 0;
};

class MockServer {
 public:
  MockServer();
  ~MockServer();  // stops
  MockServer(const MockServer&) = delete;
  MockServer& operator=(const MockServer&) = delete;

  // Binds 127.0.0.1:port and starts serving on background threads. Returns
  // the bound port. Throws std::runtime_error when it cannot bind, was
  // already started, or the server module cannot be loaded.
  int start(const MockServerOptions& opts);
  int start(int port, double latency_ms, double fail_rate, std::uint64_t seed) {
    MockServerOptions o;
    o.port = port;
    o.latency_ms = latency_ms;
    o.fail_rate = fail_rate;
    o.seed = seed;
    return start(o);
  }
  // Stops serving and joins every thread. Idempotent; safe from any thread
  // except a request handler of this server.
  void stop();

  bool running() const;
  int port() const;
  std::string url() const;  // "http://127.0.0.1:PORT"
  // Number of requests handled so far (all routes).
  std::uint64_t requests() const;

 private:
  std::unique_ptr<MockServerBackend> impl_;  // null until start()
};

}  // namespace weft
