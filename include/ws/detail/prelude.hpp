// What must come before any Asio or websocketpp header: the macros they
// read, the check that websocketpp compiles in this C++ standard, and
// websocketpp's header-name fold (ascii.hpp). Every ws header that includes
// either includes this first.
// SPDX-License-Identifier: MIT
#pragma once

// websocketpp must see standalone Asio; the meson dependency defines this too,
// but a user compiling by hand should not have to know.
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#ifndef _WEBSOCKETPP_CPP11_STL_
#define _WEBSOCKETPP_CPP11_STL_
#endif
#ifdef _WIN32
// websocketpp takes std::thread only where it knows the compiler has it
// (MSVC, or this); MinGW's it does not know, and it reaches for Boost.
#ifndef _WEBSOCKETPP_CPP11_THREAD_
#define _WEBSOCKETPP_CPP11_THREAD_
#endif
// Windows 10's API (ReadLine cancels a blocked console read; Asio asks
// for a version, and assumes Windows 7 with a warning without one).
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00
#endif
#endif

#include "ascii.hpp"
#include "decl.hpp"

// Some compilers cannot build websocketpp in C++20 and later: 0.8.2
// declares constructors and destructors with template-ids (`basic<c, n>(`),
// which C++20 forbids (DR 2237). g++ 11 to 13 reject them; g++ 14 and clang
// accept them. So the first error a user sees is ours, saying what to do,
// not seventeen inside websocketpp. What decides is what compiles: meson and
// CMake compile websocketpp in each standard and pass the result in
// WS_CHECKED_COMPILER (the compiler they ran, as WS_DETAIL_COMPILER counts
// it) and WS_WEBSOCKETPP_FAILS_FROM (the first standard that failed, 20 or
// 23; absent if none did). A file compiled by another compiler, or by hand,
// falls back on what is known of websocketpp 0.8.2, the only release.
#if defined(__clang__)
#define WS_DETAIL_COMPILER (1000000 + __clang_major__ * 1000 + __clang_minor__)
#elif defined(__GNUC__)
#define WS_DETAIL_COMPILER (__GNUC__ * 1000 + __GNUC_MINOR__)
#else
#define WS_DETAIL_COMPILER 0
#endif
#if __cplusplus <= 201703L
#define WS_DETAIL_STD 17
#elif __cplusplus <= 202002L
#define WS_DETAIL_STD 20
#elif __cplusplus <= 202302L
#define WS_DETAIL_STD 23 // also g++ 12's 202100L and clang 14's 202101L
#else
#define WS_DETAIL_STD 26
#endif
#if defined(WS_NO_STANDARD_CHECK)
#elif defined(WS_CHECKED_COMPILER) && WS_CHECKED_COMPILER == WS_DETAIL_COMPILER
#if defined(WS_WEBSOCKETPP_FAILS_FROM) &&                                      \
    WS_DETAIL_STD >= WS_WEBSOCKETPP_FAILS_FROM
#error                                                                         \
    "websocketpp does not compile in this C++ standard with this compiler (the build's check compiled it and failed): compile this file with -std=c++17; or define WS_SEPARATE_COMPILATION so that only the file including <ws/src.hpp> needs a standard websocketpp compiles in"
#endif
#elif defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 &&            \
    __GNUC__ <= 13 && WS_DETAIL_STD >= 20
#error                                                                         \
    "websocketpp 0.8.2 does not compile as C++20 or later with g++ 11 to 13: compile this file with -std=c++17, or with g++ 14 or clang; or define WS_SEPARATE_COMPILATION so that only the file including <ws/src.hpp> needs C++17"
#endif
