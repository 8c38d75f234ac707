// The GIL-free core of the http module: one HTTP request on libcurl, in plain
// C++ (no runtime objects), so it can run inside a BlockingRegion and be
// unit-tested on its own.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

namespace weft {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  bool has_body = false;
  std::string body;
  double timeout_s = 30;                       // whole transfer
  std::size_t max_bytes = std::size_t{64} << 20;  // response body limit
};

struct HttpResponse {
  long status = 0;
  std::string body;  // bytes as received (invalid UTF-8 kept)
  // Lower-case names, in arrival order; repeated headers joined with ", ".
  std::vector<std::pair<std::string, std::string>> headers;
  double elapsed_s = 0;
};

// How a request can be cut short from outside.
struct HttpCancel {
  // Aborts when (*breaker & mask) != 0 (an interpreter thread's eval breaker:
  // Ctrl-C / job timeout). May be null.
  const std::atomic<std::uint32_t>* breaker = nullptr;
  std::uint32_t mask = 0;
  // Wakes the transfer loop at once when stop is requested.
  std::stop_token token;
  // Absolute now_ns() deadline (0: none); the request's own timeout is
  // shortened to it.
  std::uint64_t deadline_ns = 0;
};

enum class HttpFailure {
  None,
  Interrupted,  // the breaker or the stop token fired
  Timeout,      // TimeoutError
  Connect,      // IOError (cannot connect / resolve)
  TooLarge,     // IOError (max_bytes)
  BadUrl,       // ValueError
  Other,        // IOError
};

struct HttpResult {
  HttpFailure failure = HttpFailure::None;
  std::string error;  // message for the error (when failure != None)
  bool deadline_cut = false;  // a Timeout caused by the job's deadline
  HttpResponse response;
};

// Performs the request. Never throws for network problems (see `failure`);
// needs no GIL. Loads libcurl on first use (see curl_loader.hpp).
HttpResult http_perform(const HttpRequest& req, const HttpCancel& cancel);

// Closes the calling thread's cached (keep-alive) connections.
void http_close_connections();

// Idempotent, thread-safe libcurl loading and initialization. A failure to
// load is reported by the first http_perform.
void http_global_init();

}  // namespace weft
