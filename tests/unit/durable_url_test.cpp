// Unit tests of the durable-queue store URLs (stdlib/durable_redis.cpp,
// stdlib/durable.cpp): the strict redis:// parser, and open_store()'s
// choice of backend and errors before anything is contacted.
#include <catch2/catch.hpp>

#include <string>

#include "stdlib/durable.hpp"
#include "tests/unit/stdlib_env.hpp"

using namespace weft;
using weft::durable::parse_redis_url;
using weft::durable::RedisUrl;
using weft::testing::error_of;

TEST_CASE("redis:// URLs: host, port and database", "[durable]") {
  RedisUrl u = parse_redis_url("redis://127.0.0.1:6380/3");
  CHECK(u.host == "127.0.0.1");
  CHECK(u.port == 6380);
  CHECK(u.db == 3);
  CHECK(u.user.empty());
  CHECK(u.password.empty());

  u = parse_redis_url("redis://cache.internal");
  CHECK(u.host == "cache.internal");
  CHECK(u.port == 6379);
  CHECK(u.db == 0);

  u = parse_redis_url("redis://localhost/5");
  CHECK(u.port == 6379);
  CHECK(u.db == 5);

  u = parse_redis_url("redis://localhost:7000/");
  CHECK(u.port == 7000);
  CHECK(u.db == 0);

  u = parse_redis_url("redis://[::1]:6390/1");
  CHECK(u.host == "::1");
  CHECK(u.port == 6390);
  CHECK(u.db == 1);

  u = parse_redis_url("redis://:s3cret@10.0.0.5:6379/2");
  CHECK(u.host == "10.0.0.5");
  CHECK(u.user.empty());
  CHECK(u.password == "s3cret");

  u = parse_redis_url("redis://app:pa:ss@h:1/0");
  CHECK(u.user == "app");
  CHECK(u.password == "pa:ss");
  CHECK(u.port == 1);

  CHECK(parse_redis_url("redis://h:65535/0").port == 65535);
}

TEST_CASE("redis:// URLs are parsed strictly", "[durable]") {
  struct Case {
    const char* url;
    const char* says;
  };
  const Case bad[] = {
      {"redis://h:abc/0", "bad port 'abc'"},
      {"redis://h:0/0", "bad port '0'"},
      {"redis://h:65536/0", "bad port '65536'"},
      {"redis://h:-1/0", "bad port '-1'"},
      {"redis://h:/0", "bad port ''"},
      {"redis://h: 80/0", "bad port ' 80'"},
      {"redis://h:6379/x", "bad database number 'x'"},
      {"redis://h:6379/-1", "bad database number '-1'"},
      {"redis://h:6379/1/2", "bad database number '1/2'"},
      {"redis://h:6379/99999999999", "bad database number"},
      {"redis://:6379/0", "has no host"},
      {"redis://", "has no host"},
      {"redis:///0", "has no host"},
      {"redis://h:6379/0?timeout=1", "query strings"},
      {"redis://user@h:6379/0", "credentials"},
      {"redis://:@h:6379/0", "empty password"},
      {"redis://[::1/0", "unterminated '['"},
      {"redis://[::1]x/0", "unexpected 'x'"},
      {"redis://h h:6379/0", "bad host"},
      {"rediss://h:6379/0", "not a redis:// URL"},
  };
  for (const Case& c : bad) {
    INFO(c.url);
    auto [type, msg] = error_of([&] { parse_redis_url(c.url); });
    CHECK(type == "ValueError");
    CHECK(msg.find(c.says) != std::string::npos);
    CHECK(msg.find(c.url) != std::string::npos);  // the message names the URL
  }
}

TEST_CASE("open_store picks the backend by scheme", "[durable]") {
  auto [type, msg] = error_of([] { durable::open_store("redis://h:http/0"); });
  CHECK(type == "ValueError");
  CHECK(msg.find("bad port 'http'") != std::string::npos);
  std::tie(type, msg) = error_of([] { durable::open_store("ftp://x"); });
  CHECK(type == "ValueError");
  CHECK(msg.find("unsupported store URL") != std::string::npos);
  CHECK(msg.find("redis://HOST:PORT/DB") != std::string::npos);
  // Nothing listens on port 1: a clear IOError at once, no hang.
  std::tie(type, msg) = error_of([] { durable::open_store("redis://127.0.0.1:1/0"); });
  CHECK(type == "IOError");
  CHECK(msg == "cannot connect to redis store 'redis://127.0.0.1:1/0': Connection refused");
}
