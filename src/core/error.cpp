// Anchors the exception vtables in one translation unit.
#include "sluice/error.hpp"
