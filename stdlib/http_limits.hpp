// Per-host limits and circuit breakers for the http module (SPEC §7.7):
// `http.limit(host, ...)` and `http.breaker(host, ...)`.
//
// Plain C++ with no runtime objects, so every wait here happens inside a
// BlockingRegion, with the GIL released. The registry is process-wide: a
// host is one shared resource for every thread and job of the process.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace weft {

// The key a URL is limited under: "host:port" (port always present, the
// scheme's default when the URL has none) and "host". A limit registered
// as "api.example.com" applies to every port; "127.0.0.1:8080" to one.
struct HostKey {
  std::string host;       // lower-case, no brackets for IPv6
  std::string host_port;  // host + ":" + port
};
// Parses scheme://[user@]host[:port][/...]; empty host when it cannot.
HostKey host_key_of(std::string_view url);
// Normalizes what a script passed to http.limit()/breaker(): lower-case,
// "http://" prefix and path stripped. Empty when invalid.
std::string normalize_host_arg(std::string_view host);

// Seconds from a Retry-After header value: delta-seconds ("120", "1.5") or
// an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"), relative to now (never
// negative). nullopt when the value is neither.
std::optional<double> parse_retry_after(std::string_view value);

// Concurrency cap, token bucket and host-wide pause for one host.
class HostLimit {
 public:
  struct Config {
    int concurrency = 0;  // 0: unlimited
    double rate = 0;      // requests per second, 0: unlimited
    double burst = 0;     // bucket size (>= 1 when rate > 0)
  };
  struct Stats {
    Config config;
    int in_flight = 0;
    int waiting = 0;
    double paused_for = 0;  // seconds until a Retry-After pause ends (0: none)
    std::uint64_t calls = 0, waited = 0, throttled = 0;
    double wait_s = 0;  // total time calls spent waiting
  };
  enum class Acquire { Ok, Timeout, Interrupted };

  explicit HostLimit(Config c);
  void configure(Config c);
  // Waits (the caller has released the GIL) until a call may start, or
  // until `deadline_ns` (now_ns clock; 0: none), or until `token` stops.
  Acquire acquire(std::uint64_t deadline_ns, const std::stop_token& token);
  // The call ended; `retry_after_s` > 0 from a 429/503 pauses the host.
  void release(long status, double retry_after_s);
  Stats stats();

 private:
  bool may_start(std::uint64_t now);
  void refill(std::uint64_t now);
  // Under mu_: wakes the waiters (if any) to look again.
  void notify() {
    if (waiting_ > 0) {
      ++gen_;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable_any cv_;
  Config cfg_;
  double tokens_ = 0;
  std::uint64_t refilled_at_ = 0;
  std::uint64_t paused_until_ = 0;
  int in_flight_ = 0;
  int waiting_ = 0;
  std::uint64_t gen_ = 0;  // bumped by every notification
  std::uint64_t calls_ = 0, waited_ = 0, throttled_ = 0, wait_ns_ = 0;
};

// A circuit breaker for one host: closed -> open after `failures`
// consecutive failures -> half_open after `reset` seconds (one probe call)
// -> closed on the probe's success, open again on its failure.
class HostBreaker {
 public:
  struct Config {
    int failures = 5;
    double reset_s = 10;
  };
  enum class State { Closed, Open, HalfOpen };
  struct Stats {
    Config config;
    State state = State::Closed;
    int failures = 0;         // consecutive failures now
    double opened_ago = -1;   // seconds since it last opened (-1: never)
    std::uint64_t calls = 0, failed = 0, rejected = 0, opened = 0;
  };
  // What before() decided.
  struct Ticket {
    bool allowed = true;
    bool probe = false;
    double retry_after_s = 0;  // when rejected
    int failures = 0;          // when rejected: the failures that opened it
  };

  explicit HostBreaker(Config c) : cfg_(c) {}
  void configure(Config c);
  Ticket before();
  // The call's outcome: `failed` per SPEC (connection error, timeout, 5xx,
  // 429); `aborted` when it was interrupted (neither success nor failure).
  void after(const Ticket& t, bool failed, bool aborted);
  Stats stats();

 private:
  std::mutex mu_;
  Config cfg_;
  State state_ = State::Closed;
  int consecutive_ = 0;
  int opened_by_ = 0;
  std::uint64_t opened_at_ = 0;
  bool probing_ = false;
  std::uint64_t calls_ = 0, failed_ = 0, rejected_ = 0, opened_ = 0;
};

const char* breaker_state_name(HostBreaker::State s);

// The process-wide registry. Lookups are lock-free when nothing is
// registered (the common case costs one atomic load per call).
struct HostPolicies {
  std::shared_ptr<HostLimit> limit;
  std::shared_ptr<HostBreaker> breaker;
  std::string limit_key, breaker_key;
};
bool host_policies_active();
HostPolicies host_policies_for(const HostKey& k);
// Sets (or with nullopt removes) the policy of `host` (already normalized).
void set_host_limit(const std::string& host, std::optional<HostLimit::Config> c);
void set_host_breaker(const std::string& host, std::optional<HostBreaker::Config> c);
std::vector<std::pair<std::string, std::shared_ptr<HostLimit>>> all_host_limits();
std::vector<std::pair<std::string, std::shared_ptr<HostBreaker>>> all_host_breakers();

}  // namespace weft
