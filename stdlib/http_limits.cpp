// Per-host limits and circuit breakers (see http_limits.hpp).
#include "stdlib/http_limits.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <map>

#include "runtime/gil.hpp"

namespace weft {

namespace {

std::chrono::steady_clock::time_point steady_tp(std::uint64_t ns) {
  // now_ns() is steady_clock's count in nanoseconds.
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(ns)));
}

std::uint64_t secs_ns(double s) {
  if (!(s > 0)) return 0;
  if (s > 1e9) s = 1e9;
  return static_cast<std::uint64_t>(s * 1e9);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

// ------------------------------------------------------------------ keys

HostKey host_key_of(std::string_view url) {
  HostKey k;
  std::string scheme = "http";
  auto sep = url.find("://");
  if (sep != std::string_view::npos) {
    scheme = lower(url.substr(0, sep));
    url.remove_prefix(sep + 3);
  }
  auto end = url.find_first_of("/?#");
  std::string_view auth = url.substr(0, end);
  if (auto at = auth.rfind('@'); at != std::string_view::npos) auth.remove_prefix(at + 1);
  std::string_view host = auth, port;
  if (!auth.empty() && auth.front() == '[') {
    auto close = auth.find(']');
    if (close == std::string_view::npos) return k;
    host = auth.substr(1, close - 1);
    if (close + 1 < auth.size() && auth[close + 1] == ':') port = auth.substr(close + 2);
  } else if (auto colon = auth.rfind(':'); colon != std::string_view::npos) {
    host = auth.substr(0, colon);
    port = auth.substr(colon + 1);
  }
  if (host.empty()) return k;
  k.host = lower(host);
  std::string p = port.empty() ? (scheme == "https" ? "443" : "80") : std::string(port);
  k.host_port = k.host + ":" + p;
  return k;
}

std::string normalize_host_arg(std::string_view host) {
  std::string_view rest = host;
  if (auto sep = rest.find("://"); sep != std::string_view::npos) rest.remove_prefix(sep + 3);
  std::string_view auth = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = auth.rfind('@'); at != std::string_view::npos) auth.remove_prefix(at + 1);
  if (auth.empty()) return "";
  HostKey k = host_key_of(host.find("://") == std::string_view::npos ? "http://" + std::string(host) : std::string(host));
  if (k.host.empty()) return "";
  // Keep the port only when one was given ("[::1]:80", "example.com:8080").
  bool has_port = auth.front() == '[' ? auth.find("]:") != std::string_view::npos
                                      : std::count(auth.begin(), auth.end(), ':') == 1;
  return has_port ? k.host_port : k.host;
}

std::optional<double> parse_retry_after(std::string_view v) {
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(v.front()))) {
    std::string s(v);
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || !(d >= 0) || std::isinf(d)) return std::nullopt;
    return d;
  }
  // IMF-fixdate (RFC 9110): "Sun, 06 Nov 1994 08:49:37 GMT".
  std::string s(v);
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end) {
    tm = std::tm{};
    end = strptime(s.c_str(), "%A, %d-%b-%y %H:%M:%S GMT", &tm);  // obsolete RFC 850
    if (!end || *end) return std::nullopt;
  }
  std::time_t at = timegm(&tm);
  auto now = std::chrono::system_clock::now();
  double left = static_cast<double>(at) -
                std::chrono::duration<double>(now.time_since_epoch()).count();
  return left > 0 ? left : 0.0;
}

// ----------------------------------------------------------------- limit

HostLimit::HostLimit(Config c) { configure(c); }

void HostLimit::configure(Config c) {
  std::lock_guard<std::mutex> lk(mu_);
  if (c.rate > 0 && c.burst < 1) c.burst = std::max(1.0, c.rate);
  cfg_ = c;
  tokens_ = c.burst;
  refilled_at_ = now_ns();
  ++gen_;
  cv_.notify_all();
}

void HostLimit::refill(std::uint64_t now) {
  if (cfg_.rate <= 0) return;
  if (now > refilled_at_) {
    tokens_ = std::min(cfg_.burst, tokens_ + static_cast<double>(now - refilled_at_) * 1e-9 * cfg_.rate);
    refilled_at_ = now;
  }
}

bool HostLimit::may_start(std::uint64_t now) {
  if (now < paused_until_) return false;
  if (cfg_.concurrency > 0 && in_flight_ >= cfg_.concurrency) return false;
  if (cfg_.rate > 0) {
    refill(now);
    if (tokens_ < 1) return false;
  }
  return true;
}

HostLimit::Acquire HostLimit::acquire(std::uint64_t deadline_ns, const std::stop_token& token) {
  std::unique_lock<std::mutex> lk(mu_);
  ++calls_;
  std::uint64_t now = now_ns();
  // Waiters go in arrival order only loosely (whoever the scheduler wakes
  // first); a newcomer does not jump ahead of callers already waiting.
  if (waiting_ == 0 && may_start(now)) {
    if (cfg_.rate > 0) tokens_ -= 1;
    ++in_flight_;
    return Acquire::Ok;
  }
  ++waiting_;
  ++waited_;
  std::uint64_t began = now;
  Acquire out = Acquire::Ok;
  for (;;) {
    now = now_ns();
    if (may_start(now)) break;
    if (token.stop_requested()) {
      out = Acquire::Interrupted;
      break;
    }
    if (deadline_ns && now >= deadline_ns) {
      out = Acquire::Timeout;
      break;
    }
    // The next moment the answer can change by itself: the pause's end or
    // the next token. Slot releases and configuration changes notify.
    std::uint64_t wake = 0;
    if (now < paused_until_) wake = paused_until_;
    else if (cfg_.rate > 0 && tokens_ < 1 && !(cfg_.concurrency > 0 && in_flight_ >= cfg_.concurrency))
      wake = now + static_cast<std::uint64_t>(std::ceil((1 - tokens_) / cfg_.rate * 1e9));
    if (deadline_ns && (!wake || deadline_ns < wake)) wake = deadline_ns;
    // The stop-token waits return only when their predicate holds, so wait
    // for the next notification (a generation change), not for `false`.
    std::uint64_t seen = gen_;
    auto notified = [this, seen] { return gen_ != seen; };
    if (wake)
      cv_.wait_until(lk, token, steady_tp(wake), notified);
    else
      cv_.wait(lk, token, notified);
  }
  --waiting_;
  wait_ns_ += now_ns() - began;
  if (out == Acquire::Ok) {
    if (cfg_.rate > 0) tokens_ -= 1;
    ++in_flight_;
  }
  // Another waiter may be able to go too (a burst, or a pause that ended).
  notify();
  return out;
}

void HostLimit::release(long status, double retry_after_s) {
  std::lock_guard<std::mutex> lk(mu_);
  if (in_flight_ > 0) --in_flight_;
  if ((status == 429 || status == 503) && retry_after_s > 0) {
    ++throttled_;
    paused_until_ = std::max(paused_until_, now_ns() + secs_ns(retry_after_s));
  }
  notify();
}

HostLimit::Stats HostLimit::stats() {
  std::lock_guard<std::mutex> lk(mu_);
  Stats s;
  s.config = cfg_;
  s.in_flight = in_flight_;
  s.waiting = waiting_;
  std::uint64_t now = now_ns();
  s.paused_for = paused_until_ > now ? static_cast<double>(paused_until_ - now) / 1e9 : 0;
  s.calls = calls_;
  s.waited = waited_;
  s.throttled = throttled_;
  s.wait_s = static_cast<double>(wait_ns_) / 1e9;
  return s;
}

// --------------------------------------------------------------- breaker

const char* breaker_state_name(HostBreaker::State s) {
  switch (s) {
    case HostBreaker::State::Closed: return "closed";
    case HostBreaker::State::Open: return "open";
    case HostBreaker::State::HalfOpen: return "half_open";
  }
  return "?";
}

void HostBreaker::configure(Config c) {
  std::lock_guard<std::mutex> lk(mu_);
  cfg_ = c;
}

HostBreaker::Ticket HostBreaker::before() {
  std::lock_guard<std::mutex> lk(mu_);
  Ticket t;
  ++calls_;
  if (state_ == State::Closed) return t;
  std::uint64_t now = now_ns();
  std::uint64_t reopen = opened_at_ + secs_ns(cfg_.reset_s);
  if (state_ == State::Open && now >= reopen) state_ = State::HalfOpen;
  if (state_ == State::HalfOpen && !probing_) {
    probing_ = true;
    t.probe = true;
    return t;
  }
  t.allowed = false;
  t.failures = opened_by_;
  // While the probe is out, try again shortly (its answer decides).
  t.retry_after_s = state_ == State::Open ? static_cast<double>(reopen - now) / 1e9 : std::min(1.0, cfg_.reset_s);
  ++rejected_;
  --calls_;
  return t;
}

void HostBreaker::after(const Ticket& t, bool failed, bool aborted) {
  std::lock_guard<std::mutex> lk(mu_);
  if (t.probe) probing_ = false;
  if (aborted) {
    // An interrupted probe tells nothing: let the next call probe again.
    return;
  }
  if (failed) {
    ++failed_;
    ++consecutive_;
    if (t.probe || (state_ == State::Closed && consecutive_ >= cfg_.failures)) {
      if (state_ != State::Open) ++opened_;
      state_ = State::Open;
      opened_at_ = now_ns();
      opened_by_ = consecutive_;
    }
    return;
  }
  consecutive_ = 0;
  if (t.probe || state_ == State::HalfOpen) state_ = State::Closed;
}

HostBreaker::Stats HostBreaker::stats() {
  std::lock_guard<std::mutex> lk(mu_);
  Stats s;
  s.config = cfg_;
  std::uint64_t now = now_ns();
  s.state = state_;
  if (state_ == State::Open && now >= opened_at_ + secs_ns(cfg_.reset_s)) s.state = State::HalfOpen;
  s.failures = consecutive_;
  s.opened_ago = opened_ > 0 ? static_cast<double>(now - opened_at_) / 1e9 : -1;
  s.calls = calls_;
  s.failed = failed_;
  s.rejected = rejected_;
  s.opened = opened_;
  return s;
}

// -------------------------------------------------------------- registry

namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<HostLimit>> limits;
  std::map<std::string, std::shared_ptr<HostBreaker>> breakers;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: used until exit
  return *r;
}

std::atomic<int> g_active{0};

template <class M>
typename M::mapped_type lookup(M& m, const HostKey& k, std::string& key) {
  if (auto it = m.find(k.host_port); it != m.end()) {
    key = k.host_port;
    return it->second;
  }
  if (auto it = m.find(k.host); it != m.end()) {
    key = k.host;
    return it->second;
  }
  return nullptr;
}

}  // namespace

bool host_policies_active() { return g_active.load(std::memory_order_acquire) > 0; }

HostPolicies host_policies_for(const HostKey& k) {
  HostPolicies p;
  if (!host_policies_active() || k.host.empty()) return p;
  Registry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  p.limit = lookup(r.limits, k, p.limit_key);
  p.breaker = lookup(r.breakers, k, p.breaker_key);
  return p;
}

void set_host_limit(const std::string& host, std::optional<HostLimit::Config> c) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  auto it = r.limits.find(host);
  if (!c) {
    if (it != r.limits.end()) {
      r.limits.erase(it);
      g_active.fetch_sub(1);
    }
    return;
  }
  if (it != r.limits.end()) {
    it->second->configure(*c);
    return;
  }
  r.limits.emplace(host, std::make_shared<HostLimit>(*c));
  g_active.fetch_add(1);
}

void set_host_breaker(const std::string& host, std::optional<HostBreaker::Config> c) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  auto it = r.breakers.find(host);
  if (!c) {
    if (it != r.breakers.end()) {
      r.breakers.erase(it);
      g_active.fetch_sub(1);
    }
    return;
  }
  if (it != r.breakers.end()) {
    it->second->configure(*c);
    return;
  }
  r.breakers.emplace(host, std::make_shared<HostBreaker>(*c));
  g_active.fetch_add(1);
}

std::vector<std::pair<std::string, std::shared_ptr<HostLimit>>> all_host_limits() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  return {r.limits.begin(), r.limits.end()};
}

std::vector<std::pair<std::string, std::shared_ptr<HostBreaker>>> all_host_breakers() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  return {r.breakers.begin(), r.breakers.end()};
}

}  // namespace weft
