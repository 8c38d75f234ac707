#include "gc.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include <sys/mman.h>

#include "interp.hpp"
#include "interpreter/builtins.hpp"
#include "natives.hpp"

namespace weft {

Heap::Heap(Interp& interp) : interp_(interp) {
  strings_.assign(1024, nullptr);
  update_fast_until();
}

Heap::~Heap() {
  // Free everything: the interpreter is going away.
  Obj* o = objects_;
  while (o) {
    Obj* next = o->next;
    free_object(o);
    o = next;
  }
  objects_ = nullptr;
  for (void* c : chunks_) std::free(c);
}

void* Heap::malloc_or_throw(std::size_t n) {
  void* p = std::malloc(n);
  if (!p) throw std::bad_alloc();
  return p;
}

void* Heap::carve(std::size_t size_class) {
  std::size_t n = size_class << 4;
  if (static_cast<std::size_t>(bump_end_ - bump_) < n) {
    // Hand the tail of the old chunk to the free lists, then start a new one.
    while (bump_end_ - bump_ >= 16) {
      std::size_t c = static_cast<std::size_t>(bump_end_ - bump_) >> 4;
      if (c > kSmallMax / 16) c = kSmallMax / 16;
      free_bytes(bump_, c << 4);
      bump_ += c << 4;
    }
    // Chunks are 2 MB and 2 MB-aligned, and the kernel is asked to back
    // them with transparent huge pages: one page fault and one TLB entry per
    // chunk instead of 512.
    constexpr std::size_t kChunk = 2u << 20;
    char* chunk = static_cast<char*>(std::aligned_alloc(kChunk, kChunk));
    if (!chunk) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(chunk, kChunk, MADV_HUGEPAGE);
#endif
    chunks_.push_back(chunk);
    bump_ = chunk;
    bump_end_ = chunk + kChunk;
  }
  void* p = bump_;
  bump_ += n;
  return p;
}

void Heap::account_slow(std::size_t bytes) {
  if (limit_ && bytes_ > limit_ && !limit_suspended_) {
    bytes_ -= bytes;
    raise("MemoryError", "out of memory (heap limit reached)");
  }
  if (bytes_ >= next_gc_ || stress_) {
    // Ask the allocating thread to collect at its next safe point.
    for (Thread* t : interp_.threads)
      if (interp_.gil.held_by(t->gil)) t->gil.breaker.fetch_or(kBreakGc, std::memory_order_relaxed);
  }
}

void Heap::add_root_callback(std::function<void(Heap&)> cb) { root_callbacks_.push_back(std::move(cb)); }

// ------------------------------------------------------------------ strings

// A fast byte hash (8 bytes per step, multiply-xorshift mixing).
static std::uint32_t hash_bytes(std::string_view s) {
  const char* p = s.data();
  std::size_t n = s.size();
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
    p += 8;
    n -= 8;
  }
  std::uint64_t w = 0;
  if (n) std::memcpy(&w, p, n);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 29;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return static_cast<std::uint32_t>(h);
}

std::uint32_t string_hash(std::string_view s) {
  std::uint32_t h = hash_bytes(s);
  return h ? h : 1;
}

// True when no byte has its high bit set (8 bytes per step).
static bool all_ascii(const char* s, std::size_t n) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s);
  std::size_t i = 0;
  std::uint64_t acc = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    acc |= w;
  }
  for (; i < n; ++i) acc |= p[i];
  return (acc & 0x8080808080808080ULL) == 0;
}

ObjString* Heap::alloc_string(std::size_t n) {
  if (n > 0xFFFFFFF0u) raise("MemoryError", "string too large");
  std::size_t bytes = sizeof(ObjString) + n;
  account(bytes);
  void* mem = alloc_bytes(bytes);
  ObjString* str = new (mem) ObjString();
  str->length = static_cast<std::uint32_t>(n);
  str->data = str->chars;
  str->chars[n] = '\0';
  return str;
}

// Code points as len/indexing/iteration count them: invalid bytes count as
// one each (the same decoder as utf8_char_len in builtins.cpp).
void Heap::finish_string(ObjString* s, bool ascii) {
  if (!ascii) ascii = all_ascii(s->data, s->length);
  s->ascii = ascii;
  if (ascii) {
    s->cp_count = s->length;
  } else {
    std::uint32_t n = 0;
    for (std::size_t pos = 0; pos < s->length; pos += utf8_char_len(s, pos)) ++n;
    s->cp_count = n;
  }
  s->next = objects_;
  objects_ = s;
}

ObjString* Heap::new_string(std::string_view s, bool ascii) {
  if (s.size() == 1) {
    ObjString*& c = single_[static_cast<unsigned char>(s[0])];
    if (!c) c = intern(s);
    return c;
  }
  if (s.empty()) return intern(s);
  ObjString* str = alloc_string(s.size());
  std::memcpy(str->chars, s.data(), s.size());
  finish_string(str, ascii);
  return str;
}

// True when `s` does not end inside a UTF-8 sequence, so its code points
// and those of a string appended to it can be counted separately.
static bool ends_on_char_boundary(const ObjString* s) {
  std::size_t n = s->length;
  if (n == 0) return true;
  // Find the start of the last character (at most 3 bytes back).
  std::size_t start = n - 1;
  for (int k = 0; k < 3 && start > 0 && (static_cast<unsigned char>(s->data[start]) & 0xC0) == 0x80; ++k) --start;
  return start + utf8_char_len(s, start) == n;
}

// Concatenations at least this long become Owners (see ObjString).
static constexpr std::size_t kOwnerMin = 64;

ObjString* Heap::concat_strings(const ObjString* a, const ObjString* b) {
  std::size_t la = a->length, lb = b->length;
  std::size_t n = la + lb;
  // Strings are immutable, so x + "" can be x itself.
  if (lb == 0) return const_cast<ObjString*>(a);
  if (la == 0) return const_cast<ObjString*>(b);
  if (n > 0xFFFFFFF0u) raise("MemoryError", "string too large");
  bool ascii = a->ascii && b->ascii;
  // Code points of the result without a scan when the halves can't merge.
  bool counted = ascii || (ends_on_char_boundary(a) &&
                           (lb == 0 || (static_cast<unsigned char>(b->data[0]) & 0xC0) != 0x80));
  auto finish = [&](ObjString* r) {
    r->ascii = ascii;
    if (counted) {
      r->cp_count = a->cp_count + b->cp_count;
      r->next = objects_;
      objects_ = r;
    } else {
      finish_string(r, false);
    }
    return r;
  };

  if (a->kind != ObjString::Kind::Plain) {
    ObjString* owner = a->kind == ObjString::Kind::Owner ? const_cast<ObjString*>(a) : a->view_owner();
    if (owner->owner_used() == la && owner->owner_cap() - la >= lb) {
      // Append in place: a's bytes end where the buffer's used part ends.
      std::size_t bytes = sizeof(ObjString) + sizeof(ObjString*);
      account(bytes);
      ObjString* v = new (alloc_bytes(bytes)) ObjString();
      std::memcpy(owner->owner_buffer() + la, b->data, lb);
      owner->set_owner_cap_used(owner->owner_cap(), static_cast<std::uint32_t>(n));
      v->kind = ObjString::Kind::View;
      v->length = static_cast<std::uint32_t>(n);
      v->data = owner->data;
      v->set_view_owner(owner);
      return finish(v);
    }
  }
  if (n >= kOwnerMin) {
    // A new buffer: room to double if a is already part of an append chain,
    // half as much again otherwise (a one-off concatenation).
    std::size_t cap = a->kind != ObjString::Kind::Plain ? 2 * n : n + n / 2;
    if (cap > 0xFFFFFFF0u) cap = n;
    std::size_t bytes = sizeof(ObjString) + 8 + cap;
    account(bytes);
    ObjString* o = new (alloc_bytes(bytes)) ObjString();
    o->kind = ObjString::Kind::Owner;
    o->length = static_cast<std::uint32_t>(n);
    o->set_owner_cap_used(static_cast<std::uint32_t>(cap), static_cast<std::uint32_t>(n));
    o->data = o->owner_buffer();
    std::memcpy(o->owner_buffer(), a->data, la);
    std::memcpy(o->owner_buffer() + la, b->data, lb);
    return finish(o);
  }
  ObjString* str = alloc_string(n);
  std::memcpy(str->chars, a->data, la);
  std::memcpy(str->chars + la, b->data, lb);
  return finish(str);
}

ObjString* Heap::intern(std::string_view s) {
  if (s.size() > 0xFFFFFFF0u) raise("MemoryError", "string too large");
  std::uint32_t h = string_hash(s);
  std::size_t mask = strings_.size() - 1;
  std::size_t i = h & mask;
  std::size_t tomb = SIZE_MAX;
  ObjString* const kTomb = reinterpret_cast<ObjString*>(1);
  for (;;) {
    ObjString* e = strings_[i];
    if (e == nullptr) break;
    if (e == kTomb) {
      if (tomb == SIZE_MAX) tomb = i;
    } else if (e->hash_ == h && e->length == s.size() && (s.empty() || std::memcmp(e->data, s.data(), s.size()) == 0)) {
      // A string that is only reachable from the table may be resurrected
      // between marking and sweeping; marking it here is harmless.
      return e;
    }
    i = (i + 1) & mask;
  }
  ObjString* str = alloc_string(s.size());
  if (!s.empty()) std::memcpy(str->chars, s.data(), s.size());
  str->hash_ = h;
  finish_string(str, false);
  if (tomb != SIZE_MAX) {
    strings_[tomb] = str;
    --string_tombs_;
  } else {
    strings_[i] = str;
  }
  ++string_count_;
  if ((string_count_ + string_tombs_) * 2 > strings_.size()) strings_grow();
  return str;
}

void Heap::strings_grow() {
  ObjString* const kTomb = reinterpret_cast<ObjString*>(1);
  std::vector<ObjString*> old;
  old.swap(strings_);
  std::size_t cap = old.size();
  if (string_count_ * 4 > cap) cap *= 2;
  strings_.assign(cap, nullptr);
  std::size_t mask = cap - 1;
  for (ObjString* e : old) {
    if (!e || e == kTomb) continue;
    std::size_t i = e->hash_ & mask;
    while (strings_[i]) i = (i + 1) & mask;
    strings_[i] = e;
  }
  string_tombs_ = 0;
}

void Heap::strings_remove_unmarked() {
  ObjString* const kTomb = reinterpret_cast<ObjString*>(1);
  for (auto& e : strings_) {
    if (e && e != kTomb && !e->marked) {
      e = kTomb;
      --string_count_;
      ++string_tombs_;
    }
  }
  if (string_tombs_ * 4 > strings_.size()) strings_grow();
}

// ------------------------------------------------------------------ marking

void Heap::mark_obj(Obj* o) {
  if (!o || o->marked) return;
  o->marked = true;
  // Strings and ranges have no references to trace later: no need to gray
  // them. A View keeps its owner (a string, so a leaf too) alive.
  if (o->type == ObjType::String) {
    auto* s = static_cast<ObjString*>(o);
    if (s->kind == ObjString::Kind::View) s->view_owner()->marked = true;
    return;
  }
  if (o->type == ObjType::Range) return;
  gray_.push_back(o);
}

void Heap::trace_references(Obj* o) {
  switch (o->type) {
    case ObjType::String:
    case ObjType::Range:
      break;
    case ObjType::List:
      for (Value v : static_cast<ObjList*>(o)->items) mark_value(v);
      break;
    case ObjType::Map:
      for (const MapEntry& e : static_cast<ObjMap*>(o)->entries) {
        mark_value(e.key);
        mark_value(e.value);
      }
      break;
    case ObjType::Proto: {
      auto* p = static_cast<ObjProto*>(o);
      for (Value v : p->constants) mark_value(v);
      mark_obj(p->module);
      break;
    }
    case ObjType::Closure: {
      auto* c = static_cast<ObjClosure*>(o);
      mark_obj(c->proto);
      for (ObjUpvalue* u : c->upvalues) mark_obj(u);
      break;
    }
    case ObjType::Upvalue:
      mark_value(*static_cast<ObjUpvalue*>(o)->location);
      break;
    case ObjType::Native:
      mark_value(static_cast<ObjNative*>(o)->data);
      break;
    case ObjType::Error: {
      auto* e = static_cast<ObjError*>(o);
      mark_obj(e->type_name);
      mark_obj(e->message);
      mark_obj(e->trace);
      mark_obj(e->fields);
      break;
    }
    case ObjType::Module: {
      auto* m = static_cast<ObjModule*>(o);
      for (ObjString* s : m->names) mark_obj(s);
      for (Value v : m->values) mark_value(v);
      break;
    }
    case ObjType::Handle:
      static_cast<ObjHandle*>(o)->trace(*this);
      break;
  }
}

void Heap::collect() {
  auto started = std::chrono::steady_clock::now();
  // Roots: builtins, modules, threads, native root callbacks.
  for (auto& [name, v] : interp_.builtins) mark_value(v);
  for (auto& [path, m] : interp_.modules) mark_obj(m);
  for (Thread* t : interp_.threads) {
    for (Value* p = t->stack; p < t->sp; ++p) mark_value(*p);
    for (const Frame& f : t->frames) mark_obj(f.closure);
    for (ObjUpvalue* u = t->open_upvalues; u; u = u->next_open) mark_obj(u);
    mark_value(t->pending);
  }
  for (auto& cb : root_callbacks_) cb(*this);
  for (ObjString* c : single_)
    if (c) c->marked = true;
  while (!gray_.empty()) {
    Obj* o = gray_.back();
    gray_.pop_back();
    trace_references(o);
  }
  strings_remove_unmarked();
  sweep();
  std::fill(std::begin(interp_.method_cache), std::end(interp_.method_cache), Interp::MethodCacheEntry{});
  ++collections_;
  live_bytes_ = bytes_;
  pause_ns_ += static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
  double next = static_cast<double>(bytes_) * kGrowth;
  next_gc_ = next >= 1.8e19 ? SIZE_MAX : static_cast<std::size_t>(next);
  if (next_gc_ < kMinThreshold) next_gc_ = kMinThreshold;
  update_fast_until();
}

void Heap::sweep() {
  Obj** link = &objects_;
  while (Obj* o = *link) {
    if (o->marked) {
      o->marked = false;
      link = &o->next;
    } else {
      *link = o->next;
      free_object(o);
    }
  }
}

template <class T>
void Heap::destroy(T* o) {
  o->~T();
  free_bytes(o, sizeof(T));
}

void Heap::free_object(Obj* o) {
  switch (o->type) {
    case ObjType::String: {
      auto* s = static_cast<ObjString*>(o);
      std::size_t bytes = s->alloc_size();
      release_bytes(bytes);
      s->~ObjString();
      free_bytes(s, bytes);
      return;
    }
    case ObjType::List: {
      auto* l = static_cast<ObjList*>(o);
      std::size_t bytes = sizeof(ObjList) + l->items.capacity() * sizeof(Value);
      release_bytes(bytes);
      destroy(l);
      return;
    }
    case ObjType::Map: {
      auto* m = static_cast<ObjMap*>(o);
      std::size_t bytes = sizeof(ObjMap) + m->entries.capacity() * sizeof(MapEntry) + m->index.capacity() * 4;
      release_bytes(bytes);
      destroy(m);
      return;
    }
    case ObjType::Range: release_bytes(sizeof(ObjRange)); destroy(static_cast<ObjRange*>(o)); return;
    case ObjType::Proto: release_bytes(sizeof(ObjProto)); destroy(static_cast<ObjProto*>(o)); return;
    case ObjType::Closure: release_bytes(sizeof(ObjClosure)); destroy(static_cast<ObjClosure*>(o)); return;
    case ObjType::Upvalue: release_bytes(sizeof(ObjUpvalue)); destroy(static_cast<ObjUpvalue*>(o)); return;
    case ObjType::Native: release_bytes(sizeof(ObjNative)); destroy(static_cast<ObjNative*>(o)); return;
    case ObjType::Error: release_bytes(sizeof(ObjError)); destroy(static_cast<ObjError*>(o)); return;
    case ObjType::Module: release_bytes(sizeof(ObjModule)); destroy(static_cast<ObjModule*>(o)); return;
    case ObjType::Handle: delete static_cast<ObjHandle*>(o); return;
  }
}

}  // namespace weft
