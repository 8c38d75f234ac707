// See curl_loader.hpp: libcurl opened with dlopen() on first use.
#include "stdlib/curl_loader.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <mutex>

namespace weft {

namespace {

CurlApi g_api;
const CurlApi* g_loaded = nullptr;
std::string g_error;

// Resolves `name` into `slot`; false (and g_error set) when it is missing.
template <class F>
bool resolve(void* lib, F& slot, const char* name) {
  slot = reinterpret_cast<F>(dlsym(lib, name));
  if (!slot) g_error = fmt::format("libcurl has no function {}", name);
  return slot != nullptr;
}

void load() {
  // RTLD_LOCAL: libcurl's symbols stay out of the global namespace, so they
  // cannot interpose on anything else loaded later.
  void* lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    g_error = fmt::format("cannot load libcurl (libcurl.so.4): {}", why ? why : "not found");
    return;
  }
  CurlApi a{};
  bool ok = resolve(lib, a.global_init, "curl_global_init") && resolve(lib, a.easy_init, "curl_easy_init") &&
            resolve(lib, a.easy_cleanup, "curl_easy_cleanup") && resolve(lib, a.easy_reset, "curl_easy_reset") &&
            resolve(lib, a.easy_setopt, "curl_easy_setopt") && resolve(lib, a.easy_getinfo, "curl_easy_getinfo") &&
            resolve(lib, a.easy_strerror, "curl_easy_strerror") && resolve(lib, a.multi_init, "curl_multi_init") &&
            resolve(lib, a.multi_cleanup, "curl_multi_cleanup") &&
            resolve(lib, a.multi_add_handle, "curl_multi_add_handle") &&
            resolve(lib, a.multi_remove_handle, "curl_multi_remove_handle") &&
            resolve(lib, a.multi_perform, "curl_multi_perform") && resolve(lib, a.multi_poll, "curl_multi_poll") &&
            resolve(lib, a.multi_wakeup, "curl_multi_wakeup") &&
            resolve(lib, a.multi_info_read, "curl_multi_info_read") &&
            resolve(lib, a.multi_strerror, "curl_multi_strerror") && resolve(lib, a.url, "curl_url") &&
            resolve(lib, a.url_cleanup, "curl_url_cleanup") && resolve(lib, a.url_set, "curl_url_set") &&
            resolve(lib, a.url_get, "curl_url_get") && resolve(lib, a.free, "curl_free") &&
            resolve(lib, a.slist_append, "curl_slist_append") &&
            resolve(lib, a.slist_free_all, "curl_slist_free_all");
  if (!ok) return;  // the library stays loaded; it is never unloaded anyway
  if (CURLcode c = a.global_init(CURL_GLOBAL_DEFAULT); c != CURLE_OK) {
    g_error = fmt::format("cannot initialize libcurl: {}", a.easy_strerror(c));
    return;
  }
  g_api = a;
  g_loaded = &g_api;
}

std::once_flag g_once;

}  // namespace

const CurlApi* curl_api() {
  std::call_once(g_once, load);
  return g_loaded;
}

const std::string& curl_load_error() {
  std::call_once(g_once, load);
  return g_error;
}

}  // namespace weft
