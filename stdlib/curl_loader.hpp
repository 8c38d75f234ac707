// libcurl, loaded on first use.
//
// libcurl pulls in some thirty shared libraries (TLS, Kerberos, LDAP, SSH,
// HTTP/2, ...) whose loading and initializers cost about 10 ms at every
// start-up; that is most of Weft's start-up time, paid by every script even
// though few of them make an HTTP request. So Weft does not link libcurl: the
// http module opens it with dlopen() the first time a request is made and
// calls it through the table below. The headers (and so the types and
// constants) are still libcurl's own.
#pragma once

#include <curl/curl.h>

#include <string>

namespace weft {

// The libcurl functions the http module uses, resolved from libcurl.so.4.
// The members are named after the functions without their "curl_" prefix.
struct CurlApi {
  CURLcode (*global_init)(long flags);
  CURL* (*easy_init)();
  void (*easy_cleanup)(CURL*);
  void (*easy_reset)(CURL*);
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  const char* (*easy_strerror)(CURLcode);
  CURLM* (*multi_init)();
  CURLMcode (*multi_cleanup)(CURLM*);
  CURLMcode (*multi_add_handle)(CURLM*, CURL*);
  CURLMcode (*multi_remove_handle)(CURLM*, CURL*);
  CURLMcode (*multi_perform)(CURLM*, int*);
  CURLMcode (*multi_poll)(CURLM*, struct curl_waitfd*, unsigned int, int, int*);
  CURLMcode (*multi_wakeup)(CURLM*);
  CURLMsg* (*multi_info_read)(CURLM*, int*);
  const char* (*multi_strerror)(CURLMcode);
  CURLU* (*url)();
  void (*url_cleanup)(CURLU*);
  CURLUcode (*url_set)(CURLU*, CURLUPart, const char*, unsigned int);
  CURLUcode (*url_get)(const CURLU*, CURLUPart, char**, unsigned int);
  void (*free)(void*);
  struct curl_slist* (*slist_append)(struct curl_slist*, const char*);
  void (*slist_free_all)(struct curl_slist*);
};

// Loads libcurl and calls curl_global_init once (thread-safe). Returns null
// when the library or one of its functions cannot be found; load_error()
// then says why.
const CurlApi* curl_api();
const std::string& curl_load_error();

}  // namespace weft
