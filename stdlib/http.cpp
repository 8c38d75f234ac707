// The http module (SPEC §7.7): a blocking HTTP client on libcurl that
// releases the GIL for the whole network operation, and http.mock_server().
//
// Layers:
//  * http_perform (http_client.hpp): plain C++, no runtime objects, no GIL.
//    It drives one transfer through a per-thread curl multi handle and waits
//    with curl_multi_poll; a std::stop_callback on the thread's wait token
//    calls curl_multi_wakeup, so Ctrl-C and job timeouts wake the transfer at
//    once (not at curl's next progress tick), and an XFERINFO callback
//    aborts a transfer in progress when the eval breaker shows an interrupt.
//    Connections are kept per thread (the multi handle's connection cache),
//    so a worker calling the same API repeatedly reuses its connection.
//  * the natives: copy arguments into an HttpRequest while holding the GIL,
//    run http_perform inside a BlockingRegion, build the result map after.
#include <curl/curl.h>
#include <fmt/format.h>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "interpreter/vm.hpp"
#include "runtime/gil.hpp"
#include "runtime/interp.hpp"
#include "runtime/natives.hpp"
#include "runtime/object.hpp"
#include "stdlib/curl_loader.hpp"
#include "stdlib/http_client.hpp"
#include "stdlib/http_limits.hpp"
#include "stdlib/json_convert.hpp"
#include "stdlib/mock_server.hpp"
#include "stdlib/modules.hpp"

namespace weft {

// ====================================================================== core

namespace {

// Bumped in the child after fork() (`weft worker --processes`): connections
// cached before the fork belong to the parent and must not be reused.
std::atomic<unsigned> g_fork_generation{0};

// The loaded libcurl. Only valid once curl_api() has returned non-null,
// which every path that reaches a transfer has checked.
inline const CurlApi& cu() { return *curl_api(); }

void after_fork_in_child();

}  // namespace

void http_global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Loading libcurl also runs curl_global_init (see curl_loader.hpp).
    if (curl_api()) pthread_atfork(nullptr, nullptr, after_fork_in_child);
  });
}

namespace {

// One multi handle (connection cache) and one easy handle per OS thread.
struct CurlCache {
  CURLM* multi = nullptr;
  CURL* easy = nullptr;
  unsigned generation = 0;
  ~CurlCache() {
    if (generation == g_fork_generation.load()) reset();
  }
  void reset() {
    if (easy) cu().easy_cleanup(easy);
    if (multi) cu().multi_cleanup(multi);
    easy = nullptr;
    multi = nullptr;
  }
  bool ensure() {
    unsigned gen = g_fork_generation.load();
    if (generation != gen) {
      // Inherited across fork(): the sockets are shared with the parent, so
      // cleaning up (which may talk to the peer) is not ours to do. Forget
      // the handles (a small one-time leak in the child).
      easy = nullptr;
      multi = nullptr;
      generation = gen;
    }
    if (!multi) multi = cu().multi_init();
    if (!easy) easy = cu().easy_init();
    return multi && easy;
  }
};

thread_local CurlCache tl_curl;

struct Transfer {
  const HttpRequest* req;
  const HttpCancel* cancel;
  HttpResponse* resp;
  bool too_large = false;
  bool interrupted = false;

  bool should_stop() const {
    if (cancel->breaker && (cancel->breaker->load(std::memory_order_relaxed) & cancel->mask)) return true;
    return cancel->token.stop_requested();
  }
};

std::size_t on_write(char* data, std::size_t size, std::size_t nmemb, void* ud) {
  auto* x = static_cast<Transfer*>(ud);
  std::size_t n = size * nmemb;
  if (x->resp->body.size() + n > x->req->max_bytes) {
    x->too_large = true;
    return 0;  // != n: curl aborts with CURLE_WRITE_ERROR
  }
  x->resp->body.append(data, n);
  return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t nmemb, void* ud) {
  auto* x = static_cast<Transfer*>(ud);
  std::size_t n = size * nmemb;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (after a redirect or a 100 Continue): start over.
    x->resp->headers.clear();
    return n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return n;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  for (auto& h : x->resp->headers) {
    if (h.first == name) {
      h.second += ", ";
      h.second += value;
      return n;
    }
  }
  x->resp->headers.emplace_back(std::move(name), std::string(value));
  return n;
}

int on_progress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* x = static_cast<Transfer*>(ud);
  if (x->should_stop()) {
    x->interrupted = true;
    return 1;  // abort: CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

// "127.0.0.1:9" for error messages.
std::string host_port(const std::string& url) {
  std::string out = url;
  CURLU* u = cu().url();
  if (!u) return out;
  if (cu().url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char* host = nullptr;
    char* port = nullptr;
    if (cu().url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host) {
      out = host;
      if (cu().url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK && port) {
        out += ':';
        out += port;
      }
    }
    cu().free(host);
    cu().free(port);
  }
  cu().url_cleanup(u);
  return out;
}

std::string host_only(const std::string& url) {
  std::string hp = host_port(url);
  auto colon = hp.rfind(':');
  if (colon != std::string::npos && hp.find(']') == std::string::npos) return hp.substr(0, colon);
  return hp;
}

// Loopback never goes through a proxy (tests and the mock server), whatever
// the environment says; other hosts follow no_proxy/NO_PROXY.
std::string no_proxy_list() {
  std::string s = "localhost,127.0.0.1,::1";
  for (const char* var : {"no_proxy", "NO_PROXY"}) {
    const char* v = std::getenv(var);
    if (v && *v) {
      s += ',';
      s += v;
      break;
    }
  }
  return s;
}

std::string fmt_seconds(double s) {
  std::string out = fmt::format("{:.3f}", s);
  while (out.size() > 1 && out.back() == '0') out.pop_back();
  if (out.back() == '.') out.pop_back();
  return out;
}

}  // namespace

void http_close_connections() {
  if (tl_curl.generation == g_fork_generation.load()) tl_curl.reset();
}

HttpResult http_perform(const HttpRequest& req, const HttpCancel& cancel) {
  HttpResult result;
  std::uint64_t start = now_ns();
  auto fail = [&](HttpFailure f, std::string msg) {
    result.failure = f;
    result.error = std::move(msg);
    result.response.elapsed_s = static_cast<double>(now_ns() - start) / 1e9;
    return result;
  };

  // Effective timeout: the request's own, shortened to the job deadline.
  double timeout_s = req.timeout_s;
  bool cut_by_deadline = false;
  if (cancel.deadline_ns) {
    std::uint64_t now = now_ns();
    result.deadline_cut = cancel.deadline_ns <= now;
    if (cancel.deadline_ns <= now) return fail(HttpFailure::Timeout, fmt::format("{} {}: job deadline passed", req.method, req.url));
    double left = static_cast<double>(cancel.deadline_ns - now) / 1e9;
    if (left < timeout_s) {
      timeout_s = left;
      cut_by_deadline = true;
    }
  }
  long timeout_ms = static_cast<long>(std::ceil(std::min(timeout_s, 1e7) * 1000.0));
  if (timeout_ms < 1) timeout_ms = 1;

  http_global_init();
  CurlCache& cc = tl_curl;
  if (!curl_api()) return fail(HttpFailure::Other, curl_load_error());
  if (!cc.ensure()) return fail(HttpFailure::Other, "cannot initialize libcurl");
  CURL* e = cc.easy;
  CURLM* m = cc.multi;
  cu().easy_reset(e);

  Transfer x{&req, &cancel, &result.response};
  char errbuf[CURL_ERROR_SIZE];
  errbuf[0] = '\0';
  std::string no_proxy = no_proxy_list();

  cu().easy_setopt(e, CURLOPT_URL, req.url.c_str());
  cu().easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  cu().easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  cu().easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  cu().easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  cu().easy_setopt(e, CURLOPT_NOPROXY, no_proxy.c_str());
  cu().easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  cu().easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  cu().easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  cu().easy_setopt(e, CURLOPT_WRITEDATA, &x);
  cu().easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  cu().easy_setopt(e, CURLOPT_HEADERDATA, &x);
  cu().easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  cu().easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
  cu().easy_setopt(e, CURLOPT_XFERINFODATA, &x);
  cu().easy_setopt(e, CURLOPT_USERAGENT, "weft/0.1");
  cu().easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  cu().easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (req.max_bytes < (std::size_t{1} << 62))
    cu().easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(req.max_bytes));

  const std::string& method = req.method;
  if (method == "GET" && !req.has_body) {
    cu().easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    cu().easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else {
    if (method == "POST" || req.has_body) {
      cu().easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      cu().easy_setopt(e, CURLOPT_POSTFIELDS, req.body.data());
    }
    if (method != "POST") cu().easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  struct curl_slist* headers = nullptr;
  for (const auto& [k, v] : req.headers) headers = cu().slist_append(headers, fmt::format("{}: {}", k, v).c_str());
  headers = cu().slist_append(headers, "Expect:");
  cu().easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers_guard(headers, cu().slist_free_all);

  CURLcode code = CURLE_OK;
  bool finished = false;
  if (cu().multi_add_handle(m, e) != CURLM_OK) return fail(HttpFailure::Other, "cannot start the transfer");
  {
    std::stop_callback wake(cancel.token, [m] { cu().multi_wakeup(m); });
    for (;;) {
      int running = 0;
      CURLMcode mc = cu().multi_perform(m, &running);
      if (mc != CURLM_OK) {
        code = CURLE_FAILED_INIT;
        snprintf(errbuf, sizeof errbuf, "%s", cu().multi_strerror(mc));
        break;
      }
      int queued = 0;
      while (CURLMsg* msg = cu().multi_info_read(m, &queued)) {
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == e) {
          code = msg->data.result;
          finished = true;
        }
      }
      if (finished) break;
      if (x.should_stop()) {
        x.interrupted = true;
        break;
      }
      // Sleeps until socket activity, curl's own timer, or curl_multi_wakeup
      // from the stop callback; the cap is only a safety net.
      cu().multi_poll(m, nullptr, 0, 1000, nullptr);
    }
  }
  cu().multi_remove_handle(m, e);
  result.response.elapsed_s = static_cast<double>(now_ns() - start) / 1e9;

  if (x.interrupted || code == CURLE_ABORTED_BY_CALLBACK) {
    // An aborted connection cannot be reused; drop the cache's connections.
    return fail(HttpFailure::Interrupted, fmt::format("{} {} interrupted", method, req.url));
  }
  if (x.too_large || code == CURLE_FILESIZE_EXCEEDED)
    return fail(HttpFailure::TooLarge,
                fmt::format("response body of {} {} exceeds max_bytes ({} bytes)", method, req.url, req.max_bytes));
  switch (code) {
    case CURLE_OK: {
      long status = 0;
      cu().easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
      result.response.status = status;
      return result;
    }
    case CURLE_OPERATION_TIMEDOUT:
      result.deadline_cut = cut_by_deadline;
      if (cut_by_deadline)
        return fail(HttpFailure::Timeout,
                    fmt::format("{} {}: job deadline reached after {} s", method, req.url, fmt_seconds(timeout_s)));
      return fail(HttpFailure::Timeout, fmt::format("{} {} timed out after {} s", method, req.url, fmt_seconds(timeout_s)));
    case CURLE_COULDNT_CONNECT:
      return fail(HttpFailure::Connect, fmt::format("cannot connect to {}: {}", host_port(req.url), cu().easy_strerror(code)));
    case CURLE_COULDNT_RESOLVE_HOST:
      return fail(HttpFailure::Connect, fmt::format("cannot resolve host '{}': {}", host_only(req.url), cu().easy_strerror(code)));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return fail(HttpFailure::BadUrl, fmt::format("invalid URL '{}': {}", req.url, errbuf[0] ? errbuf : cu().easy_strerror(code)));
    default:
      break;
  }
  std::string detail = errbuf[0] ? std::string(errbuf) : std::string(cu().easy_strerror(code));
  return fail(HttpFailure::Other, fmt::format("{} {} failed: {}", method, req.url, detail));
}

// ================================================================== natives

namespace {

bool has_crlf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); i++)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

ObjMap* opt_map(Args a, int i, const char* fn) {
  if (a.n <= i || a[i].is_nil()) return nullptr;
  return arg_map(a, i, fn);
}

// Builds the request from script values (GIL held). `body` is Undef when
// the call has no body argument (get/request: opts.body may give one).
HttpRequest build_request(Thread& t, std::string method, std::string_view url, Value body, ObjMap* opts,
                          const char* fn) {
  HttpRequest req;
  req.method = std::move(method);
  req.url = std::string(url);
  if (req.url.empty()) raisef("ValueError", "{}() URL is empty", fn);
  if (has_crlf(req.url)) raisef("ValueError", "invalid URL '{}'", req.url);
  bool user_content_type = false;
  if (opts) {
    double timeout = opt_field_number(t, opts, "timeout", 30.0);
    if (!(timeout > 0) || std::isinf(timeout)) raisef("ValueError", "{}() timeout must be a positive number of seconds", fn);
    req.timeout_s = timeout;
    std::int64_t max_bytes = opt_field_int(t, opts, "max_bytes", std::int64_t{64} << 20);
    if (max_bytes < 0) raisef("ValueError", "{}() max_bytes must be >= 0", fn);
    req.max_bytes = static_cast<std::size_t>(max_bytes);
    if (Value* h = map_get(t, opts, "headers"); h && !h->is_nil()) {
      if (!is_obj_type(*h, ObjType::Map)) raisef("TypeError", "{}() option 'headers' must be a map, not {}", fn, type_name(*h));
      ObjMap* hm = as<ObjMap>(*h);
      for (const MapEntry& en : hm->entries) {
        if (en.key.is_undef()) continue;
        std::string k = to_str(en.key);
        std::string v = to_str(en.value);
        if (k.empty() || has_crlf(k) || k.find(':') != std::string::npos || has_crlf(v))
          raisef("ValueError", "{}() invalid header {}", fn, to_repr(en.key));
        if (iequals(k, "content-type")) user_content_type = true;
        req.headers.emplace_back(std::move(k), std::move(v));
      }
    }
    if (body.is_undef()) {
      if (Value* b = map_get(t, opts, "body")) body = *b;
    }
  }
  if (body.is_undef() || body.is_nil()) return req;
  req.has_body = true;
  if (is_obj_type(body, ObjType::String)) {
    req.body = std::string(as<ObjString>(body)->view());
    if (!user_content_type) req.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  } else {
    req.body = json_stringify(body, -1);  // TypeError for fn/handles
    if (!user_content_type) req.headers.emplace_back("Content-Type", "application/json");
  }
  return req;
}

// Keeps `v` rooted on t's value stack for the rest of the native call.
struct StackRoot {
  Thread& t;
  Value* at;
  StackRoot(Thread& th, Value v) : t(th), at(th.sp) { *t.sp++ = v; }
  ~StackRoot() { t.sp = at; }
};

const char* reason_phrase(long status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

// Throws an error value of `type` with extra fields (see ObjError::fields).
[[noreturn]] void throw_with_fields(Thread& t, const char* type, const std::string& message, ObjMap* fields) {
  Value v = make_thrown_error(t, type, message);  // t.pending roots it
  if (is_obj_type(v, ObjType::Error)) as<ObjError>(v)->fields = fields;
  throw ScriptThrow{};
}

// The HTTPError for a response that is not ok (SPEC §7.7).
[[noreturn]] void throw_http_error(Thread& t, const std::string& method, const std::string& url, long status,
                                   std::string_view body, std::optional<double> retry_after) {
  ObjMap* f = new_map(t);
  StackRoot root(t, Value::object(f));
  map_put(t, f, "status", Value::integer(status));
  map_put(t, f, "url", str_value(t, url));
  map_put(t, f, "retry_after", retry_after ? Value::number(*retry_after) : Value());
  std::string_view first = body.substr(0, 1024);
  map_put(t, f, "body", str_value(t, first));
  const char* reason = reason_phrase(status);
  std::string msg = fmt::format("{}{}{} from {}{}{}", status, *reason ? " " : "", reason, method.empty() ? "" : method,
                                method.empty() ? "" : " ", url);
  if (retry_after) msg += fmt::format(" (retry after {} s)", fmt_seconds(*retry_after));
  throw_with_fields(t, "HTTPError", msg, f);
}

std::optional<double> retry_after_of(const HttpResponse& r) {
  for (const auto& [k, v] : r.headers)
    if (k == "retry-after") return parse_retry_after(v);
  return std::nullopt;
}

// Outcome for a breaker: connection errors, timeouts, 5xx and 429 fail.
bool breaker_failure(const HttpResult& res) {
  switch (res.failure) {
    case HttpFailure::None: return res.response.status >= 500 || res.response.status == 429;
    case HttpFailure::Timeout: return !res.deadline_cut;
    case HttpFailure::Connect:
    case HttpFailure::Other: return true;
    default: return false;
  }
}

Value run_request(Thread& t, HttpRequest& req, const char* label, bool check) {
  HttpCancel cancel;
  cancel.breaker = &t.gil.breaker;
  cancel.mask = kBreakInterrupt | kBreakTimeout;
  cancel.token = t.wait_token();
  cancel.deadline_ns = t.deadline_ns.load(std::memory_order_relaxed);
  // Per-host policies (http.limit / http.breaker): one atomic load when
  // none is set.
  HostPolicies pol;
  if (host_policies_active()) pol = host_policies_for(host_key_of(req.url));
  HostBreaker::Ticket ticket;
  if (pol.breaker) {
    ticket = pol.breaker->before();
    if (!ticket.allowed) {
      ObjMap* f = new_map(t);
      StackRoot root(t, Value::object(f));
      map_put(t, f, "retry_after", Value::number(ticket.retry_after_s));
      map_put(t, f, "host", str_value(t, pol.breaker_key));
      throw_with_fields(t, "CircuitOpenError",
                        fmt::format("circuit for {} is open after {} failures in a row: not calling {} {} (retry in {} s)",
                                    pol.breaker_key, ticket.failures, req.method, req.url,
                                    fmt_seconds(ticket.retry_after_s)),
                        f);
    }
  }
  HttpResult res;
  HostLimit::Acquire acq = HostLimit::Acquire::Ok;
  double waited_s = 0;
  bool limit_cut_by_job = false;
  {
    BlockingRegion br(t.interp.gil, t.gil, label);
    if (pol.limit) {
      std::uint64_t start = now_ns();
      std::uint64_t deadline = start + static_cast<std::uint64_t>(std::min(req.timeout_s, 1e7) * 1e9);
      if (cancel.deadline_ns && cancel.deadline_ns < deadline) {
        deadline = cancel.deadline_ns;
        limit_cut_by_job = true;
      }
      acq = pol.limit->acquire(deadline, cancel.token);
      waited_s = static_cast<double>(now_ns() - start) / 1e9;
      if (acq == HostLimit::Acquire::Ok) {
        req.timeout_s = std::max(0.001, req.timeout_s - waited_s);
        res = http_perform(req, cancel);
        std::optional<double> ra;
        if (res.failure == HttpFailure::None && (res.response.status == 429 || res.response.status == 503))
          ra = retry_after_of(res.response);
        pol.limit->release(res.response.status, ra ? *ra : 0);
      }
    } else {
      res = http_perform(req, cancel);
    }
    if (pol.breaker) {
      bool aborted = acq != HostLimit::Acquire::Ok || res.failure == HttpFailure::Interrupted;
      pol.breaker->after(ticket, !aborted && breaker_failure(res), aborted);
    }
  }
  t.check_interrupts();
  if (acq == HostLimit::Acquire::Interrupted) raisef("IOError", "{} {} interrupted while waiting for the limit of {}", req.method, req.url, pol.limit_key);
  if (acq == HostLimit::Acquire::Timeout) {
    if (limit_cut_by_job)
      raisef("TimeoutError", "{} {}: job deadline reached after waiting {} s for the limit of {}", req.method, req.url,
             fmt_seconds(waited_s), pol.limit_key);
    raisef("TimeoutError", "{} {} timed out after waiting {} s for the limit of {}", req.method, req.url,
           fmt_seconds(waited_s), pol.limit_key);
  }
  switch (res.failure) {
    case HttpFailure::None:
      break;
    case HttpFailure::Interrupted:
      // The breaker fired but check_interrupts found nothing to raise (the
      // bit was consumed elsewhere): still report the aborted call.
      raise("IOError", res.error);
    case HttpFailure::Timeout:
      raise("TimeoutError", res.error);
    case HttpFailure::BadUrl:
      raise("ValueError", res.error);
    case HttpFailure::Connect:
    case HttpFailure::TooLarge:
    case HttpFailure::Other:
      raise("IOError", res.error);
  }
  const HttpResponse& r = res.response;
  if (check && !(r.status >= 200 && r.status <= 299)) throw_http_error(t, req.method, req.url, r.status, r.body, retry_after_of(r));
  ObjMap* out = new_map(t);
  map_put(t, out, "status", Value::integer(r.status));
  map_put(t, out, "ok", Value::boolean(r.status >= 200 && r.status <= 299));
  map_put(t, out, "body", str_value(t, r.body));
  ObjMap* hm = new_map(t);
  for (const auto& [k, v] : r.headers) map_put(t, hm, k, str_value(t, v));
  map_put(t, out, "headers", Value::object(hm));
  map_put(t, out, "elapsed_s", Value::number(r.elapsed_s));
  map_put(t, out, "url", str_value(t, req.url));
  return Value::object(out);
}

bool check_opt(Thread& t, Args a, int i) {
  if (a.n <= i || !is_obj_type(a[i], ObjType::Map)) return false;
  Value* c = map_get(t, as<ObjMap>(a[i]), "check");
  return c && c->truthy();
}

Value http_get(Thread& t, Args a) {
  std::string_view url = arg_str(a, 0, "get");
  HttpRequest req = build_request(t, "GET", url, Value::undef(), opt_map(a, 1, "get"), "get");
  return run_request(t, req, "http.get", check_opt(t, a, 1));
}

Value http_post(Thread& t, Args a) {
  std::string_view url = arg_str(a, 0, "post");
  Value body = a.n > 1 ? a[1] : Value();
  ObjMap* opts = opt_map(a, 2, "post");
  if (body.is_nil()) body = Value::undef();  // let opts.body supply it
  HttpRequest req = build_request(t, "POST", url, body, opts, "post");
  if (!req.has_body) req.has_body = true;  // POST always sends a (possibly empty) body
  return run_request(t, req, "http.post", check_opt(t, a, 2));
}

Value http_request(Thread& t, Args a) {
  std::string method(arg_str(a, 0, "request"));
  for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (method.empty() || method.size() > 32 ||
      !std::all_of(method.begin(), method.end(), [](char c) { return (c >= 'A' && c <= 'Z') || c == '-' || c == '_'; }))
    raisef("ValueError", "request() invalid method '{}'", method);
  std::string_view url = arg_str(a, 1, "request");
  HttpRequest req = build_request(t, method, url, Value::undef(), opt_map(a, 2, "request"), "request");
  return run_request(t, req, "http.request", check_opt(t, a, 2));
}

// http.check(r): r when r.ok, else the HTTPError for it.
Value http_check(Thread& t, Args a) {
  ObjMap* r = arg_map(a, 0, "check");
  Value* ok = map_get(t, r, "ok");
  Value* status = map_get(t, r, "status");
  if (!ok || !status || !status->is_int())
    raise("TypeError", "check() needs a response from http.get/post/request (a map with 'ok' and 'status')");
  if (ok->truthy()) return a[0];
  std::string url;
  if (Value* u = map_get(t, r, "url"); u && is_obj_type(*u, ObjType::String)) url = std::string(as<ObjString>(*u)->view());
  std::string body;
  if (Value* b = map_get(t, r, "body"); b && is_obj_type(*b, ObjType::String)) body = std::string(as<ObjString>(*b)->view().substr(0, 1024));
  std::optional<double> ra;
  if (Value* h = map_get(t, r, "headers"); h && is_obj_type(*h, ObjType::Map)) {
    if (Value* v = map_get(t, as<ObjMap>(*h), "retry-after"); v && is_obj_type(*v, ObjType::String))
      ra = parse_retry_after(as<ObjString>(*v)->view());
  }
  throw_http_error(t, "", url, status->as.i, body, ra);
}

std::string host_arg(Args a, const char* fn) {
  std::string_view h = arg_str(a, 0, fn);
  std::string key = normalize_host_arg(h);
  if (key.empty()) raisef("ValueError", "{}() needs a host like \"api.example.com\" or \"127.0.0.1:8080\", got \"{}\"", fn, h);
  return key;
}

// http.limit(host, {concurrency?, rate?, burst?}); nil options remove it.
Value http_limit(Thread& t, Args a) {
  std::string key = host_arg(a, "limit");
  if (a.n < 2 || a[1].is_nil()) {
    set_host_limit(key, std::nullopt);
    return Value();
  }
  ObjMap* m = arg_map(a, 1, "limit");
  check_option_keys(m, {"concurrency", "rate", "burst"}, "http.limit()");
  HostLimit::Config c;
  std::int64_t conc = opt_field_int(t, m, "concurrency", 0);
  if (conc < 0 || conc > 1000000) raisef("ValueError", "http.limit() concurrency must be between 0 and 1000000, got {}", conc);
  c.concurrency = static_cast<int>(conc);
  c.rate = opt_field_nonneg(t, m, "rate", 0, "http.limit()");
  c.burst = opt_field_nonneg(t, m, "burst", 0, "http.limit()");
  if (std::isinf(c.rate) || std::isinf(c.burst)) raise("ValueError", "http.limit() rate and burst must be finite");
  if (c.burst > 0 && c.burst < 1) raise("ValueError", "http.limit() burst must be at least 1");
  if (c.concurrency == 0 && c.rate == 0)
    raise("ValueError", "http.limit() needs 'concurrency' or 'rate' (use http.limit(host, nil) to remove a limit)");
  set_host_limit(key, c);
  return Value();
}

// time.now() (wall clock seconds), for the timestamps of limits/breakers.
double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Value http_limits(Thread& t, Args) {
  auto all = all_host_limits();
  ObjMap* out = new_map(t);
  StackRoot root(t, Value::object(out));
  for (auto& [host, lim] : all) {
    HostLimit::Stats s = lim->stats();
    ObjMap* m = new_map(t);
    map_put(t, out, host, Value::object(m));
    map_put(t, m, "concurrency", Value::integer(s.config.concurrency));
    map_put(t, m, "rate", Value::number(s.config.rate));
    map_put(t, m, "burst", Value::number(s.config.burst));
    map_put(t, m, "in_flight", Value::integer(s.in_flight));
    map_put(t, m, "waiting", Value::integer(s.waiting));
    map_put(t, m, "paused_until", s.paused_for > 0 ? Value::number(wall_now() + s.paused_for) : Value());
    map_put(t, m, "paused_for", Value::number(s.paused_for));
    map_put(t, m, "calls", Value::integer(static_cast<std::int64_t>(s.calls)));
    map_put(t, m, "waited", Value::integer(static_cast<std::int64_t>(s.waited)));
    map_put(t, m, "throttled", Value::integer(static_cast<std::int64_t>(s.throttled)));
    map_put(t, m, "wait_s", Value::number(s.wait_s));
  }
  return Value::object(out);
}

// http.breaker(host, {failures: 5, reset: 10}); nil options remove it.
Value http_breaker(Thread& t, Args a) {
  std::string key = host_arg(a, "breaker");
  if (a.n >= 2 && a[1].is_nil()) {
    set_host_breaker(key, std::nullopt);
    return Value();
  }
  ObjMap* m = a.n >= 2 ? arg_map(a, 1, "breaker") : nullptr;
  check_option_keys(m, {"failures", "reset"}, "http.breaker()");
  HostBreaker::Config c;
  std::int64_t f = opt_field_int(t, m, "failures", 5);
  if (f < 1 || f > 1000000) raisef("ValueError", "http.breaker() failures must be between 1 and 1000000, got {}", f);
  c.failures = static_cast<int>(f);
  c.reset_s = opt_field_nonneg(t, m, "reset", 10, "http.breaker()");
  if (std::isinf(c.reset_s)) raise("ValueError", "http.breaker() reset must be finite");
  set_host_breaker(key, c);
  return Value();
}

Value http_breakers(Thread& t, Args) {
  auto all = all_host_breakers();
  ObjMap* out = new_map(t);
  StackRoot root(t, Value::object(out));
  for (auto& [host, br] : all) {
    HostBreaker::Stats s = br->stats();
    ObjMap* m = new_map(t);
    map_put(t, out, host, Value::object(m));
    map_put(t, m, "state", str_value(t, breaker_state_name(s.state)));
    map_put(t, m, "failures", Value::integer(s.failures));
    map_put(t, m, "opened_at", s.opened_ago >= 0 ? Value::number(wall_now() - s.opened_ago) : Value());
    map_put(t, m, "threshold", Value::integer(s.config.failures));
    map_put(t, m, "reset", Value::number(s.config.reset_s));
    map_put(t, m, "calls", Value::integer(static_cast<std::int64_t>(s.calls)));
    map_put(t, m, "failed", Value::integer(static_cast<std::int64_t>(s.failed)));
    map_put(t, m, "rejected", Value::integer(static_cast<std::int64_t>(s.rejected)));
    map_put(t, m, "opened", Value::integer(static_cast<std::int64_t>(s.opened)));
  }
  return Value::object(out);
}

// ------------------------------------------------------------- mock server

// Servers started by http.mock_server() live here until stop() or process
// exit: the handle's destructor is not what stops them (a script that keeps
// only the URL must not lose its server to the collector). The registry is a
// function-local static constructed by register_http (after main began), so
// at exit it is destroyed -- stopping and joining every server -- after the
// thread-local curl caches and before every static constructed earlier
// (libraries, fmt, ...).
struct MockRegistry {
  std::mutex mu;
  std::vector<std::shared_ptr<MockServer>> servers;
  ~MockRegistry() { stop_all(); }
  void add(std::shared_ptr<MockServer> s) {
    std::lock_guard<std::mutex> lk(mu);
    servers.push_back(std::move(s));
  }
  void remove(const MockServer* s) {
    std::lock_guard<std::mutex> lk(mu);
    servers.erase(std::remove_if(servers.begin(), servers.end(), [s](const auto& p) { return p.get() == s; }),
                  servers.end());
  }
  void stop_all() {
    std::vector<std::shared_ptr<MockServer>> all;
    {
      std::lock_guard<std::mutex> lk(mu);
      all.swap(servers);
    }
    for (auto& s : all) s->stop();
  }
};

MockRegistry& mock_registry() {
  static MockRegistry r;
  return r;
}

}  // namespace

namespace {

void after_fork_in_child() {
  g_fork_generation.fetch_add(1);
  // The servers' threads did not survive the fork: forget the servers
  // (leaked on purpose; stopping them would join threads that do not
  // exist here). The child is single-threaded now, so no lock is needed,
  // and the mutex may have been held by a thread that is gone: renew it.
  MockRegistry& r = mock_registry();
  new (&r.mu) std::mutex();
  auto* leaked = new std::vector<std::shared_ptr<MockServer>>(std::move(r.servers));
  (void)leaked;
  r.servers.clear();
}

Value mock_stop(Thread& t, Args a);

const MethodTable& mock_methods() {
  static const MethodTable m = {{"stop", Method{mock_stop, 0, 0}}};
  return m;
}

struct MockServerHandle : ObjHandle {
  std::shared_ptr<MockServer> server;
  std::string url;
  int port = 0;
  const char* type_name() const override { return "mock_server"; }
  const MethodTable& methods() const override { return mock_methods(); }
  bool get_field(Thread& t, std::string_view name, Value& out) override {
    if (name == "url") {
      out = str_value(t, url);
      return true;
    }
    if (name == "port") {
      out = Value::integer(port);
      return true;
    }
    if (name == "running") {
      out = Value::boolean(server && server->running());
      return true;
    }
    return false;
  }
  std::string repr() const override {
    return fmt::format("<mock_server {}{}>", url, server && server->running() ? "" : " stopped");
  }
};

Value mock_stop(Thread& t, Args a) {
  if (!a.self.is_obj() || a.self.as.o->type != ObjType::Handle) raise("TypeError", "stop() needs a mock_server");
  auto* h = dynamic_cast<MockServerHandle*>(as<ObjHandle>(a.self));
  if (!h) raise("TypeError", "stop() needs a mock_server");
  std::shared_ptr<MockServer> s = h->server;
  if (!s) return Value();
  {
    BlockingRegion br(t.interp.gil, t.gil, "http.mock_server.stop");
    // Our own idle keep-alive connections would make the server wait for
    // them to time out: close this thread's cached connections first.
    http_close_connections();
    s->stop();
  }
  mock_registry().remove(s.get());
  t.check_interrupts();
  return Value();
}

Value http_mock_server(Thread& t, Args a) {
  ObjMap* opts = opt_map(a, 0, "mock_server");
  MockServerOptions o;
  if (opts) {
    double latency = opt_field_number(t, opts, "latency", 0.0);
    if (!(latency >= 0) || std::isinf(latency)) raise("ValueError", "mock_server() latency must be >= 0 seconds");
    o.latency_ms = latency * 1000.0;
    o.fail_rate = opt_field_number(t, opts, "fail_rate", 0.0);
    if (!(o.fail_rate >= 0 && o.fail_rate <= 1)) raise("ValueError", "mock_server() fail_rate must be between 0 and 1");
    o.seed = static_cast<std::uint64_t>(opt_field_int(t, opts, "seed", 0));
    std::int64_t port = opt_field_int(t, opts, "port", 0);
    if (port < 0 || port > 65535) raisef("ValueError", "mock_server() invalid port {}", port);
    o.port = static_cast<int>(port);
    std::int64_t threads = opt_field_int(t, opts, "threads", 64);
    if (threads < 1 || threads > 1024) raise("ValueError", "mock_server() threads must be between 1 and 1024");
    o.threads = static_cast<int>(threads);
    std::int64_t rl = opt_field_int(t, opts, "rate_limit", 0);
    if (rl < 0 || rl > 1000000) raise("ValueError", "mock_server() rate_limit must be between 0 and 1000000 requests per second");
    o.rate_limit = static_cast<int>(rl);
  }
  auto server = std::make_shared<MockServer>();
  std::string err;
  {
    BlockingRegion br(t.interp.gil, t.gil, "http.mock_server");
    try {
      server->start(o);
    } catch (const std::exception& e) {
      err = e.what();
    }
  }
  if (!err.empty()) raisef("IOError", "mock_server(): {}", err);
  mock_registry().add(server);

  auto* h = t.interp.heap.make<MockServerHandle>();
  h->server = server;
  h->url = server->url();
  h->port = server->port();
  Value hv = Value::object(h);
  ObjMap* out = new_map(t);
  map_put(t, out, "url", str_value(t, h->url));
  map_put(t, out, "port", Value::integer(h->port));
  map_put(t, out, "stop", t.interp.native("stop", mock_stop, 0, 0, hv));
  map_put(t, out, "server", hv);
  t.check_interrupts();
  return Value::object(out);
}

}  // namespace

void register_http(Interp& in) {
  // libcurl is loaded on the first request, not here (see curl_loader.hpp).
  (void)mock_registry();  // see MockRegistry
  ObjMap* m = in.heap.make<ObjMap>();
  auto put = [&](const char* name, Value v) { m->set(Value::object(in.heap.intern(name)), v); };
  put("get", in.native("get", http_get, 1, 2));
  put("post", in.native("post", http_post, 1, 3));
  put("request", in.native("request", http_request, 2, 3));
  put("mock_server", in.native("mock_server", http_mock_server, 0, 1));
  put("check", in.native("check", http_check, 1, 1));
  put("limit", in.native("limit", http_limit, 1, 2));
  put("limits", in.native("limits", http_limits, 0, 0));
  put("breaker", in.native("breaker", http_breaker, 1, 2));
  put("breakers", in.native("breakers", http_breakers, 0, 0));
  in.add_builtin("http", Value::object(m));
}

}  // namespace weft
