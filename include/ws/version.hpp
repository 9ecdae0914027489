// The library's version (meson checks it against the project's).
// SPDX-License-Identifier: MIT
#pragma once

#include "detail/decl.hpp"

#define WS_VERSION "0.1.0"

namespace ws {
/// The version of this library, e.g. for a tool's --version.
inline constexpr const char *version = WS_VERSION;
} // namespace ws
