// Unit tests of the per-host limiter and circuit breaker (stdlib/http_limits.cpp),
// in plain C++ without the interpreter. The contention test doubles as the
// overhead benchmark reported in docs/performance.md (it prints its figures);
// its assertion is deliberately loose, so a loaded machine passes it.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stop_token>
#include <thread>
#include <vector>

#include "runtime/gil.hpp"
#include "stdlib/http_limits.hpp"

using namespace weft;

TEST_CASE("host keys of URLs and of http.limit() arguments", "[http_limits]") {
  HostKey k = host_key_of("http://API.example.com/users/1");
  CHECK(k.host == "api.example.com");
  CHECK(k.host_port == "api.example.com:80");
  CHECK(host_key_of("https://example.com").host_port == "example.com:443");
  CHECK(host_key_of("http://u:p@127.0.0.1:8080/x?y").host_port == "127.0.0.1:8080");
  CHECK(host_key_of("http://[::1]:9000/").host_port == "::1:9000");
  CHECK(normalize_host_arg("api.example.com") == "api.example.com");
  CHECK(normalize_host_arg("127.0.0.1:8080") == "127.0.0.1:8080");
  CHECK(normalize_host_arg("http://127.0.0.1:8080/path") == "127.0.0.1:8080");
  CHECK(normalize_host_arg("https://Example.com/") == "example.com");
  CHECK(normalize_host_arg("").empty());
}

TEST_CASE("Retry-After as seconds and as an HTTP date", "[http_limits]") {
  CHECK(parse_retry_after("120") == 120.0);
  CHECK(parse_retry_after(" 1.5 ") == 1.5);
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0);  // in the past
  auto future = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + std::chrono::seconds(100));
  char buf[64];
  std::tm tm{};
  gmtime_r(&future, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  auto d = parse_retry_after(buf);
  REQUIRE(d);
  CHECK(*d > 95);
  CHECK(*d <= 100);
  CHECK_FALSE(parse_retry_after("soon"));
  CHECK_FALSE(parse_retry_after(""));
  CHECK_FALSE(parse_retry_after("-3"));
}

TEST_CASE("limiter: concurrency cap and token bucket", "[http_limits]") {
  HostLimit lim({2, 0, 0});
  std::stop_source never;
  REQUIRE(lim.acquire(0, never.get_token()) == HostLimit::Acquire::Ok);
  REQUIRE(lim.acquire(0, never.get_token()) == HostLimit::Acquire::Ok);
  // Third call: waits until the deadline (50 ms).
  std::uint64_t t0 = now_ns();
  CHECK(lim.acquire(now_ns() + 50'000'000, never.get_token()) == HostLimit::Acquire::Timeout);
  CHECK(now_ns() - t0 >= 45'000'000);
  // A release lets a waiter through at once.
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    lim.release(200, 0);
  });
  CHECK(lim.acquire(now_ns() + 5'000'000'000, never.get_token()) == HostLimit::Acquire::Ok);
  releaser.join();
  CHECK(lim.stats().in_flight == 2);
  // A stop request ends the wait.
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    stop.request_stop();
  });
  CHECK(lim.acquire(0, stop.get_token()) == HostLimit::Acquire::Interrupted);
  stopper.join();

  HostLimit rate({0, 20, 1});
  t0 = now_ns();
  for (int i = 0; i < 5; i++) {
    REQUIRE(rate.acquire(0, never.get_token()) == HostLimit::Acquire::Ok);
    rate.release(200, 0);
  }
  CHECK(now_ns() - t0 >= 190'000'000);  // 4 gaps of 50 ms
}

TEST_CASE("limiter: a 429 with Retry-After pauses the host", "[http_limits]") {
  HostLimit lim({10, 0, 0});
  std::stop_source never;
  REQUIRE(lim.acquire(0, never.get_token()) == HostLimit::Acquire::Ok);
  lim.release(429, 0.2);
  CHECK(lim.stats().paused_for > 0.1);
  std::uint64_t t0 = now_ns();
  REQUIRE(lim.acquire(0, never.get_token()) == HostLimit::Acquire::Ok);
  CHECK(now_ns() - t0 >= 150'000'000);
  lim.release(200, 0);
  CHECK(lim.stats().throttled == 1);
}

TEST_CASE("breaker: closed, open, half-open, closed", "[http_limits]") {
  HostBreaker br({3, 0.1});
  for (int i = 0; i < 3; i++) {
    auto t = br.before();
    REQUIRE(t.allowed);
    br.after(t, true, false);
  }
  CHECK(br.stats().state == HostBreaker::State::Open);
  auto rejected = br.before();
  CHECK_FALSE(rejected.allowed);
  CHECK(rejected.retry_after_s > 0);
  CHECK(rejected.retry_after_s <= 0.1);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  auto probe = br.before();
  REQUIRE(probe.allowed);
  CHECK(probe.probe);
  CHECK_FALSE(br.before().allowed);  // only one probe at a time
  br.after(probe, false, false);
  CHECK(br.stats().state == HostBreaker::State::Closed);
  CHECK(br.stats().opened == 1);
  // A success resets the count of failures in a row.
  for (int i = 0; i < 2; i++) br.after(br.before(), true, false);
  br.after(br.before(), false, false);
  br.after(br.before(), true, false);
  CHECK(br.stats().state == HostBreaker::State::Closed);
}

// 8 threads share one limit (never saturated) and one breaker: the cost per
// call of acquire+release+before+after under contention.
TEST_CASE("limiter and breaker overhead under contention", "[http_limits][bench]") {
  HostLimit lim({1000, 1e9, 1e9});
  HostBreaker br({5, 10});
  constexpr int kThreads = 8;
  constexpr int kCalls = 20000;
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; i++) {
    ts.emplace_back([&] {
      std::stop_source never;
      while (!go.load()) std::this_thread::yield();
      for (int k = 0; k < kCalls; k++) {
        auto t = br.before();
        lim.acquire(0, never.get_token());
        lim.release(200, 0);
        br.after(t, false, false);
      }
    });
  }
  std::uint64_t t0 = now_ns();
  go.store(true);
  for (auto& t : ts) t.join();
  double secs = static_cast<double>(now_ns() - t0) / 1e9;
  double per_call_us = secs / (kThreads * kCalls) * 1e6;
  std::printf("limiter+breaker: %d calls on %d threads in %.3f s: %.2f us per call (%.0f calls/s)\n",
              kThreads * kCalls, kThreads, secs, per_call_us, kThreads * kCalls / secs);
  CHECK(lim.stats().in_flight == 0);
  CHECK(lim.stats().calls == static_cast<std::uint64_t>(kThreads * kCalls));
  CHECK(per_call_us < 50);  // the target (5 us) is reported, not asserted
}
