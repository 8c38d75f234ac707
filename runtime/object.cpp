#include "object.hpp"

#include <cmath>
#include <cstring>

#include "gc.hpp"

namespace weft {

// ------------------------------------------------------------------ hashing

static inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

bool hashable(Value v) {
  switch (v.tag) {
    case Tag::Int:
    case Tag::Float:
    case Tag::Bool:
      return true;
    case Tag::Obj:
      return v.as.o->type == ObjType::String;
    default:
      return false;
  }
}

std::uint64_t hash_value(Value v) {
  switch (v.tag) {
    case Tag::Int:
      return mix64(static_cast<std::uint64_t>(v.as.i));
    case Tag::Float: {
      double d = v.as.d;
      // An integral float hashes like the equal int, because 1 == 1.0.
      if (std::isfinite(d) && d == std::floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
        return mix64(static_cast<std::uint64_t>(static_cast<std::int64_t>(d)));
      std::uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      return mix64(bits);
    }
    case Tag::Bool:
      return mix64(v.as.b ? 0x51ed27 : 0x2a9c1b);
    case Tag::Obj:
      return static_cast<ObjString*>(v.as.o)->hash() * 0x9E3779B97F4A7C15ULL;
    default:
      return 0;
  }
}

bool keys_equal(Value a, Value b) {
  if (a.tag == b.tag) {
    switch (a.tag) {
      case Tag::Int:
        return a.as.i == b.as.i;
      case Tag::Float:
        return a.as.d == b.as.d;
      case Tag::Bool:
        return a.as.b == b.as.b;
      case Tag::Obj: {
        if (a.as.o == b.as.o) return true;
        auto* x = static_cast<ObjString*>(a.as.o);
        auto* y = static_cast<ObjString*>(b.as.o);
        // The callers have compared the hashes already.
        return x->length == y->length && std::memcmp(x->data, y->data, x->length) == 0;
      }
      default:
        return false;
    }
  }
  if (a.tag == Tag::Int && b.tag == Tag::Float) return compare_int_double(a.as.i, b.as.d) == 0;
  if (a.tag == Tag::Float && b.tag == Tag::Int) return compare_int_double(b.as.i, a.as.d) == 0;
  return false;
}

// --------------------------------------------------------------------- maps

void ObjMap::rebuild(std::size_t capacity) {
  // Compact tombstones out of `entries`, then rebuild the index.
  if (count != entries.size()) {
    std::size_t w = 0;
    for (std::size_t r = 0; r < entries.size(); ++r)
      if (!entries[r].key.is_undef()) entries[w++] = entries[r];
    entries.resize(w);
  }
  index.assign(capacity, -1);
  std::size_t mask = capacity - 1;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::size_t h = entries[i].hash & mask;
    while (index[h] != -1) h = (h + 1) & mask;
    index[h] = static_cast<std::int32_t>(i);
  }
}

std::int32_t ObjMap::position(Value key) {
  if (index.empty()) return -1;
  std::uint64_t h = hash_value(key);
  std::size_t mask = index.size() - 1;
  std::size_t i = h & mask;
  for (;;) {
    std::int32_t e = index[i];
    if (e == -1) return -1;
    const MapEntry& ent = entries[static_cast<std::size_t>(e)];
    if (ent.hash == h && ((ent.key.tag == Tag::Obj && ent.key.as.o == key.as.o) || keys_equal(ent.key, key))) return e;
    i = (i + 1) & mask;
  }
}

Value* ObjMap::find(Value key) {
  std::int32_t p = position(key);
  return p < 0 ? nullptr : &entries[static_cast<std::size_t>(p)].value;
}

Value* ObjMap::find_str(ObjString* key) { return find(Value::object(key)); }

void ObjMap::set(Value key, Value value) {
  std::uint64_t h = hash_value(key);
  // One probe: it either finds the key or ends at the empty slot where the
  // key goes (when the index has room for one more entry).
  if (!index.empty()) {
    std::size_t mask = index.size() - 1;
    std::size_t i = h & mask;
    for (;;) {
      std::int32_t e = index[i];
      if (e == -1) break;
      MapEntry& ent = entries[static_cast<std::size_t>(e)];
      if (ent.hash == h && ((ent.key.tag == Tag::Obj && ent.key.as.o == key.as.o) || keys_equal(ent.key, key))) {
        ent.value = value;
        return;
      }
      i = (i + 1) & mask;
    }
    if ((entries.size() + 1) * 2 <= index.size()) {
      index[i] = static_cast<std::int32_t>(entries.size());
      entries.push_back({key, value, h});
      ++count;
      ++version;
      return;
    }
  }
  // Keep the index at most half full (counting tombstoned entries, which
  // still occupy index slots until the next rebuild).
  std::size_t cap = 8;
  while (cap < (count + 1) * 2 + 2) cap <<= 1;
  if (cap < index.size() && count * 4 >= index.size()) cap = index.size();
  rebuild(cap < 8 ? 8 : cap);
  if (entries.capacity() < 4) entries.reserve(4);
  std::size_t mask = index.size() - 1;
  std::size_t i = h & mask;
  while (index[i] != -1) i = (i + 1) & mask;
  index[i] = static_cast<std::int32_t>(entries.size());
  entries.push_back({key, value, h});
  ++count;
  ++version;
}

bool ObjMap::remove(Value key, Value* out) {
  std::int32_t p = position(key);
  if (p < 0) return false;
  MapEntry& e = entries[static_cast<std::size_t>(p)];
  if (out) *out = e.value;
  e.key = Value::undef();
  e.value = Value();
  --count;
  ++version;
  // The index slot still points at the tombstone; lookups skip it because an
  // Undef key never equals anything. Rebuild when tombstones dominate.
  if (entries.size() >= 16 && count * 2 < entries.size()) rebuild(index.size());
  return true;
}

void ObjMap::clear() {
  entries.clear();
  index.clear();
  count = 0;
  ++version;
}

// ------------------------------------------------------------------- ranges

std::int64_t ObjRange::length() const {
  // 128-bit arithmetic: range(INT64_MIN, INT64_MAX) must not overflow.
  __int128 a = start, b = stop, st = step, n = 0;
  if (st > 0 && a < b) n = (b - a + st - 1) / st;
  if (st < 0 && a > b) n = (a - b + (-st) - 1) / (-st);
  return n > INT64_MAX ? -1 : static_cast<std::int64_t>(n);
}

// ------------------------------------------------------------------- protos

LineInfo ObjProto::position(std::uint32_t offset) const {
  // Binary search for the last entry whose offset <= `offset`.
  std::size_t lo = 0, hi = lines.size();
  while (lo < hi) {
    std::size_t mid = (lo + hi) / 2;
    if (lines[mid].offset <= offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return lines.empty() ? LineInfo{0, line, 0} : lines[0];
  return lines[lo - 1];
}

// ------------------------------------------------------------------ modules

int ObjModule::slot_for(Heap& heap, std::string_view name) {
  auto it = slots.find(std::string(name));
  if (it != slots.end()) return it->second;
  if (values.size() >= kMaxGlobals) return -1;
  int idx = static_cast<int>(values.size());
  slots.emplace(std::string(name), idx);
  names.push_back(heap.intern(name));
  values.push_back(Value::undef());
  return idx;
}

int ObjModule::member_slot(std::string_view name) const {
  auto it = slots.find(std::string(name));
  if (it == slots.end() || !is_member(static_cast<std::size_t>(it->second))) return -1;
  if (values[static_cast<std::size_t>(it->second)].is_undef()) return -1;
  return it->second;
}

void ObjModule::export_declared() {
  member.assign(names.size(), 0);
  for (std::size_t i = 0; i < names.size(); ++i)
    if (declared.count(std::string(names[i]->view()))) member[i] = 1;
}

bool ObjModule::set_member(Heap& heap, std::string_view name, Value v) {
  int slot = slot_for(heap, name);
  if (slot < 0) return false;
  auto i = static_cast<std::size_t>(slot);
  if (member.size() <= i) member.resize(i + 1, 0);
  member[i] = 1;
  values[i] = v;
  return true;
}

std::vector<std::string_view> ObjModule::member_names() const {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (is_member(i) && !values[i].is_undef()) out.push_back(names[i]->view());
  return out;
}

std::string ObjModule::module_name() const {
  // `display` is the path as the user gave it (for diagnostics); a module's
  // name is its file's name without the directory and the extension.
  std::string n = display;
  if (auto slash = n.rfind('/'); slash != std::string::npos && !path.empty()) n.erase(0, slash + 1);
  if (n.size() > 5 && n.ends_with(".weft")) n.resize(n.size() - 5);
  return n;
}

}  // namespace weft
