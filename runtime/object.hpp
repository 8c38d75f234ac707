// Heap objects: strings, lists, maps, ranges, functions, errors, modules and
// native handles (thread, lock, channel, queue, job, ...).
//
// Every object starts with the Obj header and is owned by the garbage
// collector (gc.hpp). Objects are only created and touched while holding the
// GIL; handles whose internals are shared with native threads protect those
// internals with their own mutex (and take it in trace()).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "pool_alloc.hpp"
#include "value.hpp"

namespace weft {

struct Thread;
class Heap;

enum class ObjType : std::uint8_t {
  String,
  List,
  Map,
  Range,
  Proto,
  Closure,
  Upvalue,
  Native,
  Error,
  Module,
  Handle,
};

struct Obj {
  Obj* next = nullptr;  // the collector's list of all objects
  ObjType type;
  bool marked : 1 = false;
  // Set while repr/str (kBusyRepr) or == (kBusyEqualL/R) is inside this list or
  // map: meeting it again on the way down means the value contains itself
  // (SPEC §4). Flags in the header make the check O(1) without a set to
  // allocate; only the GIL holder prints or compares. They share the byte
  // of `marked`: subclasses (ObjString) pack their own fields into the
  // header's tail padding, so a new byte would make every string bigger.
  std::uint8_t busy : 3 = 0;
  explicit Obj(ObjType t) : type(t) {}
};

inline constexpr std::uint8_t kBusyRepr = 1;
// == marks the left and the right operand's path separately: a container
// met on its own side's path is a cycle; one shared by both sides is not.
inline constexpr std::uint8_t kBusyEqualL = 2;
inline constexpr std::uint8_t kBusyEqualR = 4;

// Sets a busy bit for a scope (cleared on errors too).
struct BusyScope {
  Obj* o;
  std::uint8_t bit;
  BusyScope(Obj* obj, std::uint8_t b) : o(obj), bit(b) { o->busy |= b; }
  ~BusyScope() { o->busy &= static_cast<std::uint8_t>(~bit); }
  BusyScope(const BusyScope&) = delete;
  BusyScope& operator=(const BusyScope&) = delete;
};

inline bool is_obj_type(Value v, ObjType t) { return v.is_obj() && v.as.o->type == t; }

// ------------------------------------------------------------------ strings

// The hash of a string's bytes as ObjString caches it: never 0, because 0
// marks a hash that has not been computed yet.
std::uint32_t string_hash(std::string_view s);

// Immutable UTF-8 bytes with a cached hash. Names and constants are interned
// (one object per distinct content), so comparing them is a pointer test;
// strings computed at run time are not, and compare by length and bytes
// when the pointers differ. `ascii` lets len/indexing skip UTF-8 decoding.
//
// The hash is computed on first use (as a map key, by the intern table):
// most strings a program builds are printed, joined or compared, never
// hashed. Only the GIL holder touches a string, so filling the cache needs
// no synchronization.
struct ObjString : Obj {
  // How the bytes are stored. A Plain string holds them inline in `chars`
  // (NUL-terminated). Building a long string piece by piece (s += x in a
  // loop) would copy the whole string every time, so a long concatenation
  // makes an Owner instead: a string with spare capacity after its bytes.
  // Appending to an Owner (or to a View of it) whose bytes end exactly where
  // the buffer's used part ends writes the new bytes into the spare space
  // and returns a View: a small header whose `data` points into the owner's
  // buffer. Bytes before `used` are never written again, so every string
  // sharing the buffer keeps its value: strings stay immutable, and s += x
  // costs the length of x, as in CPython. Only Plain strings are
  // NUL-terminated; code must use data/length (view()).
  enum class Kind : std::uint8_t { Plain, Owner, View };

  bool ascii;
  Kind kind = Kind::Plain;
  mutable std::uint32_t hash_ = 0;  // 0: not computed yet (see hash())
  std::uint32_t length;  // bytes
  std::uint32_t cp_count;  // code points (invalid bytes count as one each)
  const char* data;  // the bytes: `chars`, or an owner's buffer
  // Plain: `length` bytes and a NUL. Owner: capacity and used (two
  // uint32), then the buffer. View: the owner (an ObjString*).
  char chars[1];

  ObjString() : Obj(ObjType::String) {}
  std::string_view view() const { return {data, length}; }
  std::uint32_t hash() const {
    if (hash_ == 0) hash_ = string_hash(view());
    return hash_;
  }

  // Owner and View helpers (the layout of `chars` above).
  std::uint32_t owner_cap() const { return load_u32(0); }
  std::uint32_t owner_used() const { return load_u32(4); }
  void set_owner_cap_used(std::uint32_t cap, std::uint32_t used) {
    std::memcpy(chars, &cap, 4);
    std::memcpy(chars + 4, &used, 4);
  }
  char* owner_buffer() { return chars + 8; }
  ObjString* view_owner() const {
    ObjString* o;
    std::memcpy(&o, chars, sizeof o);
    return o;
  }
  void set_view_owner(ObjString* o) { std::memcpy(chars, &o, sizeof o); }
  // The bytes this object occupies (what alloc_bytes was given).
  std::size_t alloc_size() const {
    switch (kind) {
      case Kind::Plain: return sizeof(ObjString) + length;
      case Kind::Owner: return sizeof(ObjString) + 8 + owner_cap();
      case Kind::View: return sizeof(ObjString) + sizeof(ObjString*);
    }
    return sizeof(ObjString) + length;
  }

 private:
  std::uint32_t load_u32(int off) const {
    std::uint32_t v;
    std::memcpy(&v, chars + off, 4);
    return v;
  }
};

// ------------------------------------------------------------------ lists

// The items of a list: a vector whose buffer comes from the pool allocator
// (pool_alloc.hpp).
using ValueVec = std::vector<Value, PoolAlloc<Value>>;

struct ObjList : Obj {
  ValueVec items;
  ObjList() : Obj(ObjType::List) {}
};

// ------------------------------------------------------------------- maps

// An insertion-ordered hash map (the compact layout of CPython's dict):
// `entries` keeps insertion order, `index` is an open-addressed table of
// positions into `entries`. Removed entries become tombstones (key Undef)
// and are compacted when they pile up. Keys are str, int, float or bool;
// an integral float key is the same key as the equal int (1 == 1.0).
struct MapEntry {
  Value key;
  Value value;
  std::uint64_t hash;
};

struct ObjMap : Obj {
  std::vector<MapEntry> entries;
  std::vector<std::int32_t> index;  // -1 empty, else position in entries
  std::uint32_t count = 0;          // live entries
  // Bumped whenever a key is added or removed (not when a value is
  // overwritten): a `for` loop over the map compares it at every step and
  // raises "map changed size during iteration".
  std::uint32_t version = 0;

  ObjMap() : Obj(ObjType::Map) {}

  // Returns a pointer to the value for `key`, or nullptr. `key` must be
  // hashable (see hashable()).
  Value* find(Value key);
  // Inserts or overwrites.
  void set(Value key, Value value);
  // Removes `key`; returns true and stores the old value in *out if present.
  bool remove(Value key, Value* out);
  // Removes every entry (bumps version).
  void clear();
  // Convenience for natives: string keys.
  Value* find_str(ObjString* key);
  // Position of `key` in entries (for inline caches), or -1.
  std::int32_t position(Value key);

 private:
  void rebuild(std::size_t capacity);
};

// True for the key types maps accept (str, int, float, bool).
bool hashable(Value v);
std::uint64_t hash_value(Value v);
// Key equality: like ==, but only for hashable values.
bool keys_equal(Value a, Value b);

// ------------------------------------------------------------------ ranges

// range(start, stop, step): lazy; iterating it in a for loop allocates nothing.
struct ObjRange : Obj {
  std::int64_t start, stop, step;
  ObjRange(std::int64_t a, std::int64_t b, std::int64_t s)
      : Obj(ObjType::Range), start(a), stop(b), step(s) {}
  // The number of items, or -1 when it exceeds INT64_MAX (range(MIN, MAX)):
  // len() raises OverflowError then, and indexing works in 128-bit.
  std::int64_t length() const;
};

// --------------------------------------------------------------- functions

struct ObjModule;

// Where an upvalue of a new closure comes from: the enclosing function's
// local slot `index` (is_local) or the enclosing closure's upvalue `index`.
struct UpvalueDesc {
  bool is_local;
  std::uint16_t index;
};

// Source position of the instruction starting at byte `offset`.
struct LineInfo {
  std::uint32_t offset;
  std::int32_t line;
  std::int32_t col;
};

// A compiled function: bytecode, constants and debug information.
struct ObjProto : Obj {
  std::vector<std::uint8_t> code;
  std::vector<Value> constants;
  std::vector<LineInfo> lines;  // sorted by offset
  std::vector<UpvalueDesc> upvalues;
  std::string name;            // "<main>", "fib", "<anonymous>"
  // The argument count a call may pass straight through: the number of
  // parameters, or -1 with a rest parameter. Any other count takes the
  // VM's slow path, which fills in omitted defaults and builds the rest list.
  int arity = 0;
  int nparams = 0;             // named parameters (without the rest)
  int required = 0;            // parameters without a default
  bool has_rest = false;       // ends in `...name`
  bool flexible = false;       // has defaults or a rest parameter
  std::string params_sig;      // "a, b=..., ...rest" for error messages
  int max_slots = 0;           // locals + temporaries
  ObjModule* module = nullptr;
  int line = 0;                // where the function was defined
  // Set when compilation of this function ends, so a call loads them from
  // the proto's own cache line: the constant pool, and the module's global
  // array (which never moves, see ObjModule).
  const Value* kptr = nullptr;
  Value* gptr = nullptr;

  ObjProto() : Obj(ObjType::Proto) {}
  // The line/column of the instruction at `offset`.
  LineInfo position(std::uint32_t offset) const;
};

// A captured variable. While the variable's frame is alive the upvalue points
// at its stack slot ("open"); when the frame (or loop iteration) ends, the
// value moves into `closed` and `location` points there.
struct ObjUpvalue : Obj {
  Value* location;
  Value closed;
  ObjUpvalue* next_open = nullptr;  // the owning thread's open-upvalue list
  explicit ObjUpvalue(Value* slot) : Obj(ObjType::Upvalue), location(slot) {}
};

struct ObjClosure : Obj {
  ObjProto* proto;
  std::vector<ObjUpvalue*> upvalues;
  explicit ObjClosure(ObjProto* p) : Obj(ObjType::Closure), proto(p), upvalues(p->upvalues.size()) {}
};

// ----------------------------------------------------------------- natives

// Arguments of a native call. `v` points into the calling thread's value
// stack, so the arguments stay alive (rooted) for the whole call, including
// across a BlockingRegion. `self` is the receiver for methods and the bound
// data for natives created with a data value.
struct Args {
  Value* v;
  int n;
  Value self;
  Value operator[](int i) const { return v[i]; }
};

using NativeFn = Value (*)(Thread& t, Args a);

struct ObjNative : Obj {
  NativeFn fn;
  const char* name;   // static storage
  int min_args;
  int max_args;       // -1: variadic
  Value data;         // passed as Args::self (nil if unused); traced
  ObjNative(NativeFn f, const char* n, int mn, int mx, Value d = Value())
      : Obj(ObjType::Native), fn(f), name(n), min_args(mn), max_args(mx), data(d) {}
};

// A method of a built-in type or handle class.
struct Method {
  NativeFn fn;
  int min_args;
  int max_args;  // -1: variadic
};
using MethodTable = std::unordered_map<std::string_view, Method>;

// ------------------------------------------------------------------ errors

// An error value: `type` ("TypeError"), `message`, and `trace` (strings
// "file:line in function", innermost last), filled when first thrown.
// `line`/`col`/`file` remember where it was first thrown for the report.
struct ObjError : Obj {
  ObjString* type_name;
  ObjString* message;
  ObjList* trace = nullptr;  // nil until thrown
  // Extra fields of some error types (HTTPError: status, url, retry_after,
  // body; CircuitOpenError: retry_after), read by field access; null for most.
  ObjMap* fields = nullptr;
  std::string file;
  int line = 0;
  int col = 0;
  ObjError(ObjString* t, ObjString* m) : Obj(ObjType::Error), type_name(t), message(m) {}
};

// ----------------------------------------------------------------- modules

// The globals of one source file. Globals are compiled to slot indices, so a
// global access is an array load; the array is reserved at its maximum size
// (65,536 slots, the u16 operand range) when the module is created, so it
// never moves and functions can keep a pointer to it even while the REPL or
// another thread compiles more code into the module; `names` maps slots back to names for
// NameError messages and import(). The source is kept for error reports.
struct ObjModule : Obj {
  std::string path;     // as given on the command line / import path
  std::string display;  // the name used in messages (file name)
  std::string source;
  std::unordered_map<std::string, int> slots;
  std::vector<ObjString*> names;
  std::vector<Value> values;  // Undef until assigned
  // Names assigned at the top level (let, fn, or plain assignment): the
  // globals a function may assign to.
  std::unordered_set<std::string> declared;
  // Which slots are members when the module is used as a value (`mod.name`,
  // SPEC §4): every entry of a built-in module, the top-level declarations of
  // an imported file. The names a file merely refers to (the builtins it
  // calls, misspelt globals) have slots too, but are not members.
  std::vector<std::uint8_t> member;
  static constexpr std::size_t kMaxGlobals = 65535;
  // `reserve`: the globals array never moves once code is compiled against
  // it, so a source file's module reserves the full slot range; a built-in
  // module (no code of its own) reserves only what it holds.
  explicit ObjModule(std::size_t reserve = kMaxGlobals + 1) : Obj(ObjType::Module) { values.reserve(reserve); }
  int slot_for(Heap& heap, std::string_view name);  // adds a slot if new
  bool is_member(std::size_t slot) const { return slot < member.size() && member[slot]; }
  // The slot of member `name`, or -1.
  int member_slot(std::string_view name) const;
  // Makes the declared globals members (after compiling an imported file).
  void export_declared();
  // mod.name = v: replaces member `name`, or adds it. False when the module
  // is full.
  bool set_member(Heap& heap, std::string_view name, Value v);
  // The member names (for "did you mean" hints and listings).
  std::vector<std::string_view> member_names() const;
  // How the module prints (`<module math>`): a built-in module's name, an
  // imported file's name without `.weft`.
  std::string module_name() const;
};

// ----------------------------------------------------------------- handles

class Heap;

// Base of native handle objects (thread, lock, channel, queue, job, ...).
// A handle class names its type (what type(x) returns), its methods, its
// readable fields (t.id, t.name, j.id) and how it prints.
struct ObjHandle : Obj {
  ObjHandle() : Obj(ObjType::Handle) {}
  virtual ~ObjHandle() = default;
  virtual const char* type_name() const = 0;
  virtual const MethodTable& methods() const = 0;
  // Reads field `name` (t.id); returns false when there is no such field.
  virtual bool get_field(Thread& t, std::string_view name, Value& out) {
    (void)t, (void)name, (void)out;
    return false;
  }
  // Marks every Value the handle keeps (take your own mutex if native threads
  // touch the container).
  virtual void trace(Heap& heap) { (void)heap; }
  // `<lock>`, `<thread 2 "worker">`, `<job 7 done>`.
  virtual std::string repr() const = 0;
};

template <class T>
T* as(Value v) {
  return static_cast<T*>(v.as.o);
}

}  // namespace weft
