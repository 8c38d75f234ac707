// Unit tests of the http client (stdlib/http.cpp) against the mock API
// (stdlib/mock_server.cpp) on 127.0.0.1. Timing checks use generous bounds
// (a loaded two-core machine must pass them).
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <stop_token>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "runtime/gil.hpp"
#include "runtime/natives.hpp"
#include "stdlib/http_client.hpp"
#include "stdlib/modules.hpp"
#include "stdlib/mock_server.hpp"
#include "tests/unit/stdlib_env.hpp"

using namespace weft;
using weft::testing::Env;
using weft::testing::error_of;
using namespace std::chrono_literals;

namespace {

HttpResult get(const std::string& url, double timeout = 10) {
  HttpRequest r;
  r.url = url;
  r.timeout_s = timeout;
  return http_perform(r, HttpCancel{});
}

std::string header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Calls a function of a registered module.
Value call(Env& e, const char* module, const char* fn, std::vector<Value> args) {
  Value mod = e.in.builtins.at(module);
  Value* f = as<ObjMap>(mod)->find_str(e.in.heap.intern(fn));
  REQUIRE(f);
  return as<ObjNative>(*f)->fn(e.t, Args{args.data(), static_cast<int>(args.size()), as<ObjNative>(*f)->data});
}

Value field(Env& e, Value map, const char* key) {
  Value* v = map_get(e.t, as<ObjMap>(map), key);
  REQUIRE(v);
  return *v;
}

}  // namespace

TEST_CASE("GET a user from the mock API", "[http]") {
  MockServer srv;
  int port = srv.start(0, 0, 0, 1);
  REQUIRE(port > 0);
  HttpResult r = get(srv.url() + "/users/7");
  REQUIRE(r.failure == HttpFailure::None);
  CHECK(r.response.status == 200);
  CHECK(r.response.body == R"({"id":7,"name":"user-7"})");
  CHECK(header(r.response, "content-type") == "application/json");
  CHECK(r.response.elapsed_s >= 0);
  CHECK(r.response.elapsed_s < 5);

  HttpResult nf = get(srv.url() + "/nope");
  REQUIRE(nf.failure == HttpFailure::None);
  CHECK(nf.response.status == 404);
  CHECK(nf.response.body.find("not found") != std::string::npos);
  http_close_connections();
  srv.stop();
  srv.stop();  // idempotent
  CHECK_FALSE(srv.running());
}

TEST_CASE("status codes are returned, not failures", "[http]") {
  MockServer srv;
  srv.start(0, 0, 0, 1);
  for (int code : {201, 204, 400, 404, 500, 503}) {
    HttpResult r = get(srv.url() + "/status/" + std::to_string(code));
    REQUIRE(r.failure == HttpFailure::None);
    CHECK(r.response.status == code);
  }
  http_close_connections();
}

TEST_CASE("latency is applied to /users", "[http]") {
  MockServer srv;
  srv.start(0, 150, 0, 1);
  auto t0 = std::chrono::steady_clock::now();
  HttpResult r = get(srv.url() + "/users/1");
  double dt = seconds_since(t0);
  CHECK(r.response.status == 200);
  CHECK(dt >= 0.14);
  CHECK(dt < 5);
  http_close_connections();
}

TEST_CASE("fail rate is deterministic for a seed", "[http]") {
  auto run = [](std::uint64_t seed) {
    MockServer srv;
    srv.start(0, 0, 0.3, seed);
    std::string pattern;
    for (int i = 0; i < 200; i++) {
      HttpResult r = get(srv.url() + "/users/" + std::to_string(i));
      REQUIRE(r.failure == HttpFailure::None);
      REQUIRE((r.response.status == 200 || r.response.status == 503));
      pattern.push_back(r.response.status == 503 ? 'x' : '.');
    }
    // Other routes never fail on purpose.
    CHECK(get(srv.url() + "/status/200").response.status == 200);
    http_close_connections();
    return pattern;
  };
  std::string a = run(42), b = run(42), c = run(7);
  CHECK(a == b);
  CHECK(a != c);
  auto fails = std::count(a.begin(), a.end(), 'x');
  CHECK(fails > 30);   // expected 60
  CHECK(fails < 100);

  MockServer never, always;
  never.start(0, 0, 0, 1);
  always.start(0, 0, 1, 1);
  CHECK(get(never.url() + "/users/1").response.status == 200);
  CHECK(get(always.url() + "/users/1").response.status == 503);
  http_close_connections();
}

TEST_CASE("POST echoes body and content type", "[http]") {
  MockServer srv;
  srv.start(0, 0, 0, 1);
  HttpRequest r;
  r.method = "POST";
  r.url = srv.url() + "/echo";
  r.has_body = true;
  r.body = std::string("bytes \xff\xfe kept\0inside", 21);
  r.headers.emplace_back("Content-Type", "application/x-test");
  HttpResult res = http_perform(r, HttpCancel{});
  REQUIRE(res.failure == HttpFailure::None);
  CHECK(res.response.status == 200);
  CHECK(res.response.body == r.body);
  CHECK(header(res.response, "content-type") == "application/x-test");

  // A large body (no Expect: 100-continue stall).
  r.body.assign(300000, 'z');
  res = http_perform(r, HttpCancel{});
  CHECK(res.response.body.size() == 300000);
  // Without a Content-Type, curl sends form encoding (which the server caps).

  // Other methods: the mock API answers 404 on /echo.
  HttpRequest put;
  put.method = "PUT";
  put.url = srv.url() + "/echo";
  put.has_body = true;
  put.body = "x";
  put.headers.emplace_back("Content-Type", "text/plain");
  HttpResult pr = http_perform(put, HttpCancel{});
  CHECK(pr.failure == HttpFailure::None);
  CHECK(pr.response.status == 404);
  http_close_connections();
}

TEST_CASE("timeouts, refused connections, bad URLs, max_bytes", "[http]") {
  MockServer srv;
  srv.start(0, 0, 0, 1);

  auto t0 = std::chrono::steady_clock::now();
  HttpResult slow = get(srv.url() + "/slow?ms=10000", 0.2);
  CHECK(slow.failure == HttpFailure::Timeout);
  CHECK(slow.error.find("timed out") != std::string::npos);
  CHECK(seconds_since(t0) < 5);

  // A port with nothing listening: a stopped server's.
  MockServer gone;
  int port = gone.start(0, 0, 0, 1);
  gone.stop();
  HttpResult refused = get("http://127.0.0.1:" + std::to_string(port) + "/users/1");
  CHECK(refused.failure == HttpFailure::Connect);
  CHECK(refused.error == "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Couldn't connect to server");

  CHECK(get("notaproto://x").failure == HttpFailure::BadUrl);

  HttpRequest big;
  big.method = "POST";
  big.url = srv.url() + "/echo";
  big.has_body = true;
  big.body.assign(100000, 'a');
  big.headers.emplace_back("Content-Type", "text/plain");
  big.max_bytes = 1000;
  HttpResult tl = http_perform(big, HttpCancel{});
  CHECK(tl.failure == HttpFailure::TooLarge);
  big.max_bytes = 100000;
  CHECK(http_perform(big, HttpCancel{}).failure == HttpFailure::None);
  http_close_connections();
}

TEST_CASE("a stop request or a breaker bit interrupts a request at once", "[http]") {
  MockServer srv;
  srv.start(0, 0, 0, 1);
  std::stop_source src;
  HttpCancel c;
  c.token = src.get_token();
  HttpRequest r;
  r.url = srv.url() + "/slow?ms=20000";
  auto t0 = std::chrono::steady_clock::now();
  auto fut = std::async(std::launch::async, [&] { return http_perform(r, c); });
  std::this_thread::sleep_for(100ms);
  src.request_stop();
  HttpResult res = fut.get();
  CHECK(res.failure == HttpFailure::Interrupted);
  CHECK(seconds_since(t0) < 5);

  std::atomic<std::uint32_t> breaker{0};
  HttpCancel c2;
  c2.breaker = &breaker;
  c2.mask = kBreakTimeout;
  breaker = kBreakTimeout;
  CHECK(http_perform(r, c2).failure == HttpFailure::Interrupted);

  // The job deadline shortens the request's own timeout.
  HttpCancel c3;
  c3.deadline_ns = now_ns() + 200'000'000;
  t0 = std::chrono::steady_clock::now();
  HttpResult dl = http_perform(r, c3);
  CHECK(dl.failure == HttpFailure::Timeout);
  CHECK(dl.error.find("deadline") != std::string::npos);
  CHECK(seconds_since(t0) < 5);
}

TEST_CASE("stop() returns promptly with requests in flight", "[http]") {
  MockServer srv;
  srv.start(0, 60000, 0, 1);
  std::vector<std::future<HttpResult>> inflight;
  for (int i = 0; i < 4; i++)
    inflight.push_back(std::async(std::launch::async, [&srv, i] { return get(srv.url() + "/users/" + std::to_string(i), 30); }));
  std::this_thread::sleep_for(200ms);
  auto t0 = std::chrono::steady_clock::now();
  srv.stop();
  CHECK(seconds_since(t0) < 5);
  for (auto& f : inflight) {
    HttpResult r = f.get();
    // Either the stopping server's 503 or a closed connection; never a hang.
    CHECK((r.failure != HttpFailure::None || r.response.status == 503));
  }
}

TEST_CASE("http natives: result map, JSON bodies, errors", "[http]") {
  Env e;
  register_json(e.in);
  register_http(e.in);
  MockServer srv;
  srv.start(0, 0, 0, 1);
  std::string base = srv.url();

  Value r = call(e, "http", "get", {e.str(base + "/users/3")});
  CHECK(field(e, r, "status").as.i == 200);
  CHECK(field(e, r, "ok").as.b);
  CHECK(to_str(field(e, r, "body")) == R"({"id":3,"name":"user-3"})");
  CHECK(to_str(field(e, field(e, r, "headers"), "content-type")) == "application/json");
  CHECK(field(e, r, "elapsed_s").is_float());
  CHECK(e.in.gil.stats().io_releases >= 1);  // the GIL was released

  ObjMap* body = new_map(e.t);
  ObjList* l = new_list(e.t);
  l->items.push_back(Value::integer(1));
  l->items.push_back(Value());
  map_put(e.t, body, "k", Value::object(l));
  Value p = call(e, "http", "post", {e.str(base + "/echo"), Value::object(body)});
  CHECK(to_str(field(e, p, "body")) == R"({"k":[1,null]})");
  CHECK(to_str(field(e, field(e, p, "headers"), "content-type")) == "application/json");

  Value s = call(e, "http", "request", {e.str("get"), e.str(base + "/status/503")});
  CHECK(field(e, s, "status").as.i == 503);
  CHECK_FALSE(field(e, s, "ok").as.b);

  ObjMap* opts = new_map(e.t);
  map_put(e.t, opts, "timeout", Value::number(0.2));
  auto [tt, tm] = error_of([&] { call(e, "http", "get", {e.str(base + "/slow?ms=10000"), Value::object(opts)}); });
  CHECK(tt == "TimeoutError");

  MockServer gone;
  int port = gone.start(0, 0, 0, 1);
  gone.stop();
  auto [ct, cm] = error_of([&] { call(e, "http", "get", {e.str("http://127.0.0.1:" + std::to_string(port) + "/")}); });
  CHECK(ct == "IOError");
  CHECK(cm.find("cannot connect to 127.0.0.1:") == 0);

  ObjMap* small = new_map(e.t);
  map_put(e.t, small, "max_bytes", Value::integer(10));
  auto [mt, mm] = error_of([&] { call(e, "http", "post", {e.str(base + "/echo"), e.str(std::string(1000, 'x')), Value::object(small)}); });
  CHECK(mt == "IOError");
  CHECK(mm.find("max_bytes") != std::string::npos);

  Value fn = e.in.native("f", [](Thread&, Args) { return Value(); }, 0, 0);
  CHECK(error_of([&] { call(e, "http", "post", {e.str(base + "/echo"), fn}); }).first == "TypeError");
  CHECK(error_of([&] { call(e, "http", "request", {e.str("G T"), e.str(base)}); }).first == "ValueError");
  http_close_connections();
}

TEST_CASE("http.mock_server from the runtime", "[http]") {
  Env e;
  register_json(e.in);
  register_http(e.in);
  ObjMap* opts = new_map(e.t);
  map_put(e.t, opts, "fail_rate", Value::number(1.0));
  Value m = call(e, "http", "mock_server", {Value::object(opts)});
  std::string url = to_str(field(e, m, "url"));
  CHECK(url.rfind("http://127.0.0.1:", 0) == 0);
  Value r = call(e, "http", "get", {e.str(url + "/users/1")});
  CHECK(field(e, r, "status").as.i == 503);
  Value stop = field(e, m, "stop");
  ObjNative* sn = as<ObjNative>(stop);
  sn->fn(e.t, Args{nullptr, 0, sn->data});
  sn->fn(e.t, Args{nullptr, 0, sn->data});  // idempotent
  CHECK(error_of([&] { call(e, "http", "get", {e.str(url + "/users/1")}); }).first == "IOError");
  // A server that is never stopped is stopped at exit (checked by the
  // process exiting cleanly after this test).
  call(e, "http", "mock_server", {});
}

TEST_CASE("a burst of simultaneous connections is accepted at once", "[http]") {
  // cpp-httplib's listen backlog of 5 would drop SYNs of a burst, which
  // clients retry only after 1 s; the mock server raises the backlog.
  MockServer srv;
  srv.start(0, 20, 0, 1);
  std::vector<std::future<double>> fs;
  std::atomic<bool> go{false};
  for (int i = 0; i < 32; i++)
    fs.push_back(std::async(std::launch::async, [&srv, &go, i] {
      while (!go.load()) std::this_thread::yield();
      auto t0 = std::chrono::steady_clock::now();
      HttpResult r = get(srv.url() + "/users/" + std::to_string(i));
      double dt = seconds_since(t0);
      http_close_connections();
      return r.response.status == 200 ? dt : 99.0;
    }));
  go = true;
  double worst = 0;
  for (auto& f : fs) worst = std::max(worst, f.get());
  CHECK(worst < 0.9);
}

TEST_CASE("a forked child does not reuse the parent's connections", "[http]") {
  MockServer srv;
  srv.start(0, 0, 0, 1);
  // The parent caches a keep-alive connection.
  REQUIRE(get(srv.url() + "/users/1").response.status == 200);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Child: the server is the parent's (its threads live there); a new
    // connection must be opened, and it must not disturb the parent's.
    HttpResult r = get(srv.url() + "/users/2", 5);
    _exit(r.failure == HttpFailure::None && r.response.status == 200 ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  HttpResult again = get(srv.url() + "/users/3");
  CHECK(again.failure == HttpFailure::None);
  CHECK(again.response.body == R"({"id":3,"name":"user-3"})");
  http_close_connections();
}

TEST_CASE("weft mock-api usage errors", "[http]") {
  auto run = [](std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    return mock_api_main(static_cast<int>(argv.size()), argv.data());
  };
  CHECK(run({"weft", "mock-api", "--port", "abc"}) == 2);
  CHECK(run({"weft", "mock-api", "--fail-rate=2"}) == 2);
  CHECK(run({"weft", "mock-api", "--bogus"}) == 2);
  CHECK(run({"weft", "mock-api", "--latency"}) == 2);
  CHECK(run({"mock-api", "--help"}) == 0);
}
