#include "cli.hpp"

int main(int argc, char** argv) { return weft::weft_main(argc, argv); }
