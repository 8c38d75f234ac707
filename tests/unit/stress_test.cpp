// Stress under a memory limit (issue 7): huge strings, lists and maps hit
// MemoryError under `weft --heap-limit=MB` — caught by the script or
// reported with exit status 1 — and the interpreter never crashes. Runs the
// real binary (popen), since --heap-limit is a command-line option.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

namespace {

struct Run {
  int status = -1;  // exit status, or 128+signal
  std::string out;  // stdout and stderr
};

Run run_weft(const std::string& opts, const std::string& code) {
  static int counter = 0;
  std::string path = "/tmp/weft_stress_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".weft";
  {
    std::ofstream f(path);
    f << code;
  }
  std::string cmd = "timeout 120 " WEFT_BINARY " " + opts + " " + path + " 2>&1";
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = ::pclose(p);
  if (WIFEXITED(st)) r.status = WEXITSTATUS(st);
  else if (WIFSIGNALED(st)) r.status = 128 + WTERMSIG(st);
  std::remove(path.c_str());
  return r;
}

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

}  // namespace

TEST_CASE("stress: a doubling string hits MemoryError under --heap-limit", "[stress][memory]") {
  Run r = run_weft("--heap-limit=64", "let s = \"x\"\nwhile true { s = s + s }\n");
  INFO(r.out);
  CHECK(r.status == 1);
  CHECK(has(r.out, "MemoryError"));
  CHECK(has(r.out, ":2:"));  // the report points at the line
}

TEST_CASE("stress: MemoryError is catchable and the interpreter goes on", "[stress][memory]") {
  Run r = run_weft("--heap-limit=64",
                   "let n = 0\n"
                   "for round in range(3) {\n"
                   "  try { let s = \"ab\"\n while true { s = s + s } } catch e { print(e.type)\n n += 1 }\n"
                   "}\n"
                   "try { let big = \"x\" * 200000000 } catch e { print(e.type) }\n"
                   "try { let l = [0] * 100000000 } catch e { print(e.type) }\n"
                   "print(\"alive\", n, len([1, 2, 3]))\n");
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(has(r.out, "MemoryError\nMemoryError\nMemoryError\nMemoryError\nMemoryError\nalive 3 3"));
}

TEST_CASE("stress: many small allocations up to the limit raise MemoryError", "[stress][memory]") {
  // Fills the heap with small objects, so that the limit is reached with
  // almost no room left: building the MemoryError itself must not fail.
  SECTION("uncaught list of lists") {
    Run r = run_weft("--heap-limit=32", "let l = []\nwhile true { l.push([1, 2, 3]) }\n");
    INFO(r.out);
    CHECK(r.status == 1);
    CHECK(has(r.out, "MemoryError"));
    CHECK_FALSE(has(r.out, "terminate called"));
  }
  SECTION("caught, strings") {
    Run r = run_weft("--heap-limit=32",
                     "try { let l = []\nwhile true { l.push(\"abcdefgh\" * 100) } } catch e { print(e.type) }\n"
                     "print(\"ok\")\n");
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(has(r.out, "MemoryError\nok"));
  }
  SECTION("map with string keys") {
    Run r = run_weft("--heap-limit=32", "let m = {}\nlet i = 0\nwhile true { m[str(i)] = [i]\ni += 1 }\n");
    INFO(r.out);
    CHECK(r.status == 1);
    CHECK(has(r.out, "MemoryError"));
  }
}

TEST_CASE("stress: MemoryError in threads and jobs is reported, not fatal", "[stress][memory]") {
  Run r = run_weft("--heap-limit=64",
                   "fn hog() { let s = \"x\"\n while true { s = s + s } }\n"
                   "let ts = []\n"
                   "for i in range(4) { ts.push(thread.spawn(hog)) }\n"
                   "let seen = []\n"
                   "for t in ts { try { t.join(60) } catch e { seen.push(e.type) } }\n"
                   "print(seen)\n"
                   "let q = jobs.queue({workers: 2})\n"
                   "let j = q.submit(hog)\n"
                   "try { j.result(60) } catch e { print(e.type, e.message.contains(\"MemoryError\")) }\n"
                   "q.shutdown()\n"
                   "print(\"threads\", thread.count())\n");
  INFO(r.out);
  CHECK(r.status == 0);
  // Threads that fail while main waits on another one's join() print their
  // error as they end (SPEC §7.2), in between on the same output.
  CHECK(has(r.out, "[\"MemoryError\", \"MemoryError\", \"MemoryError\", \"MemoryError\"]\nJobError true\nthreads 1"));
}

TEST_CASE("stress: deep recursion, then the interpreter keeps working", "[stress][recursion]") {
  Run r = run_weft("",
                   "fn f(n) { return f(n + 1) + 1 }\n"
                   "for i in range(5) { try { f(0) } catch e { print(e.type) } }\n"
                   "fn g(n) { if n == 0 { return 0 } return 1 + g(n - 1) }\n"
                   "print(g(9990))\n"
                   "f(0)\n");
  INFO(r.out);
  CHECK(r.status == 1);
  CHECK(has(r.out, "RecursionError\nRecursionError\nRecursionError\nRecursionError\nRecursionError\n9990\n"));
  CHECK(has(r.out, "RecursionError: maximum recursion depth exceeded"));
}
