// How the library is compiled, and what it needs of the compiler. Every
// public header includes this first, so a wrong standard is the first error.
// SPDX-License-Identifier: MIT
#pragma once

// Header-only by default. With WS_SEPARATE_COMPILATION defined (in every
// file of the program, as Asio's ASIO_SEPARATE_COMPILATION is), the public
// headers declare the API without including Asio, websocketpp or OpenSSL,
// and one source file includes <ws/src.hpp> to define it (or the program
// links the `ws-compiled` library that meson builds from that file).
#ifdef WS_SEPARATE_COMPILATION
#define WS_DECL
#else
#define WS_DECL inline
#endif

#if defined(_MSVC_LANG) ? _MSVC_LANG < 201703L : __cplusplus < 201703L
#error                                                                         \
    "ws needs C++17 or later (std::string_view, if constexpr): compile with -std=c++17"
#endif
