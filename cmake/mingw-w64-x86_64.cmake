# Cross-build for 64-bit Windows with MinGW-w64 (Debian:
# gcc-mingw-w64-x86-64-win32, the win32 thread model), tests run under Wine.
#
#   cmake -S . -B build-windows -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake
#
# tools/wine-test does this inside a Debian 13 chroot with Wine 10.

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(VMP_MINGW_TRIPLET x86_64-w64-mingw32)

# Prefer the win32 thread model explicitly (no libwinpthread-1.dll needed);
# the unsuffixed name is whatever Debian's alternatives point at.
find_program(CMAKE_C_COMPILER NAMES ${VMP_MINGW_TRIPLET}-gcc-win32 ${VMP_MINGW_TRIPLET}-gcc REQUIRED)
find_program(CMAKE_CXX_COMPILER NAMES ${VMP_MINGW_TRIPLET}-g++-win32 ${VMP_MINGW_TRIPLET}-g++)
find_program(CMAKE_RC_COMPILER NAMES ${VMP_MINGW_TRIPLET}-windres)
find_program(CMAKE_AR NAMES ${VMP_MINGW_TRIPLET}-gcc-ar-win32 ${VMP_MINGW_TRIPLET}-ar)
find_program(CMAKE_RANLIB NAMES ${VMP_MINGW_TRIPLET}-gcc-ranlib-win32 ${VMP_MINGW_TRIPLET}-ranlib)

set(CMAKE_FIND_ROOT_PATH /usr/${VMP_MINGW_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# libgcc linked in statically: the .exe and .dll files need no
# libgcc_s_seh-1.dll beside them.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static-libgcc")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static-libgcc")

# add_test() commands that name a Windows executable target run through
# this (ctest prepends it), so `ctest` works on the Linux build machine.
find_program(VMP_WINE NAMES wine wine64)
if(VMP_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${VMP_WINE})
else()
  set(CMAKE_CROSSCOMPILING_EMULATOR wine)
endif()
