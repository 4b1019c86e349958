# Rampart's stand-in for Azure Sphere's AzureSphereToolchain.cmake: a CMake project written for
# Azure Sphere (CMakePresets.json naming $env{AzureSphereDefaultSDKDir}/CMakeFiles/
# AzureSphereToolchain.cmake, the Ninja generator, AZURE_SPHERE_TARGET_API_SET) builds with
# AzureSphereDefaultSDKDir pointing at Rampart's sdk/c. It compiles for wasm32-wasi with clang,
# wasi-libc and clang's wasm32 runtime, and after project() AzureSphereBuild.cmake defines the
# applibs and gcc_s libraries and the azsphere_* functions.
#
# Cache variables: RAMPART_CLANG (the C compiler; default: clang-14 or clang on PATH),
# RAMPART_CLI (the rampart binary that packs the image; default: rampart on PATH).

cmake_minimum_required(VERSION 3.20)

get_filename_component(RAMPART_C_SDK "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(RAMPART_C_SDK "${RAMPART_C_SDK}" CACHE INTERNAL "Rampart's C SDK (sdk/c)")

set(CMAKE_SYSTEM_NAME WASI)
set(CMAKE_SYSTEM_VERSION 1)
set(CMAKE_SYSTEM_PROCESSOR wasm32)
# CMake has no platform file for WASI: use the generic one's rules.
list(APPEND CMAKE_MODULE_PATH "${CMAKE_CURRENT_LIST_DIR}/Modules")

find_program(RAMPART_CLANG NAMES clang-14 clang DOC "clang, for wasm32-wasi")
if(NOT RAMPART_CLANG)
    message(FATAL_ERROR "Rampart's C SDK needs clang with wasm32 support: on Debian, apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32 (scripts/test-services does it)")
endif()
find_program(RAMPART_LLVM_AR NAMES llvm-ar-14 llvm-ar DOC "llvm-ar, for wasm32 archives")
if(NOT RAMPART_LLVM_AR)
    message(FATAL_ERROR "Rampart's C SDK needs llvm-ar (Debian: apt-get install llvm)")
endif()

set(CMAKE_C_COMPILER "${RAMPART_CLANG}")
set(CMAKE_C_COMPILER_TARGET wasm32-wasi)
set(CMAKE_AR "${RAMPART_LLVM_AR}" CACHE FILEPATH "llvm-ar" FORCE)
find_program(RAMPART_LLVM_RANLIB NAMES llvm-ranlib-14 llvm-ranlib DOC "llvm-ranlib")
set(CMAKE_RANLIB "${RAMPART_LLVM_RANLIB}" CACHE FILEPATH "llvm-ranlib" FORCE)
set(CMAKE_C_FLAGS_INIT "-isystem ${RAMPART_C_SDK}/include -D_WASI_EMULATED_SIGNAL")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-z,stack-size=262144")
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# The API set a project asks for is recorded; every set gets the same, Rampart's, applibs.
set(AZURE_SPHERE_TARGET_API_SET "latest-lts" CACHE STRING "Azure Sphere API set (all map to Rampart's applibs)")

# After project(): the applibs library and the azsphere_* functions.
set(CMAKE_PROJECT_INCLUDE "${CMAKE_CURRENT_LIST_DIR}/AzureSphereBuild.cmake")
