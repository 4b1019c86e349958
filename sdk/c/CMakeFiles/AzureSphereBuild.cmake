# Included after a project's project() by Rampart's AzureSphereToolchain.cmake: defines the
# libraries an Azure Sphere app links (applibs, gcc_s) and the azsphere_* functions.

if(TARGET applibs)
    return()
endif()

file(GLOB _rampart_applibs_src CONFIGURE_DEPENDS "${RAMPART_C_SDK}/src/*.c")
add_library(applibs STATIC ${_rampart_applibs_src})
target_compile_options(applibs PRIVATE -Wall -Wextra -O2)
# wasi-libc's signal emulation, for sigaction().
target_link_libraries(applibs INTERFACE wasi-emulated-signal)

# Azure Sphere apps link gcc_s (libgcc's unwinder); clang's wasm32 runtime needs nothing more.
add_library(gcc_s INTERFACE)

find_program(RAMPART_CLI NAMES rampart DOC "the rampart command, which packs the image package")

function(_rampart_need_cli)
    if(NOT RAMPART_CLI)
        message(FATAL_ERROR "The rampart command is needed to build an image package: put it on PATH or set -DRAMPART_CLI=/path/to/rampart")
    endif()
endfunction()

# Legacy azsphere_configure_tools and azsphere_configure_api: CMakePresets.json replaces them;
# they are accepted and do nothing.
function(azsphere_configure_tools)
endfunction()
function(azsphere_configure_api)
endfunction()

# azsphere_target_hardware_definition(target TARGET_DIRECTORY dir... TARGET_DEFINITION file.json)
# finds the definition in the directories, adds each directory's inc folder and Rampart's
# HardwareDefinitions/inc to the include path, and generates hw/NAME.h when the definition's
# folder ships none.
function(azsphere_target_hardware_definition target)
    cmake_parse_arguments(PARSE_ARGV 1 HW "" "TARGET_DEFINITION" "TARGET_DIRECTORY")
    if(NOT HW_TARGET_DEFINITION OR NOT HW_TARGET_DIRECTORY)
        message(FATAL_ERROR "azsphere_target_hardware_definition needs TARGET_DIRECTORY and TARGET_DEFINITION")
    endif()
    set(dirs "")
    set(def "")
    foreach(d IN LISTS HW_TARGET_DIRECTORY)
        get_filename_component(d "${d}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
        list(APPEND dirs "${d}")
        if(NOT def AND EXISTS "${d}/${HW_TARGET_DEFINITION}")
            set(def "${d}/${HW_TARGET_DEFINITION}")
            set(defdir "${d}")
        endif()
    endforeach()
    if(NOT def)
        message(FATAL_ERROR "hardware definition ${HW_TARGET_DEFINITION} is not in ${HW_TARGET_DIRECTORY}")
    endif()
    list(APPEND dirs "${RAMPART_C_SDK}/HardwareDefinitions")
    get_filename_component(name "${HW_TARGET_DEFINITION}" NAME_WE)
    if(NOT EXISTS "${defdir}/inc/hw/${name}.h")
        _rampart_need_cli()
        set(gen "${CMAKE_CURRENT_BINARY_DIR}/rampart-hw/inc")
        file(MAKE_DIRECTORY "${gen}/hw")
        set(dirargs "")
        foreach(d IN LISTS dirs)
            list(APPEND dirargs --hardware-definition-dir "${d}")
        endforeach()
        execute_process(
            COMMAND "${RAMPART_CLI}" image hardware-header --hardware-definition "${def}" ${dirargs}
                    --output "${gen}/hw/${name}.h"
            RESULT_VARIABLE rc)
        if(NOT rc EQUAL 0)
            message(FATAL_ERROR "rampart image hardware-header failed for ${def}")
        endif()
        set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${def}")
        target_include_directories(${target} PRIVATE "${gen}")
    endif()
    foreach(d IN LISTS dirs)
        if(EXISTS "${d}/inc")
            target_include_directories(${target} PRIVATE "${d}/inc" "${d}/inc/hw")
        endif()
    endforeach()
    set_target_properties(${target} PROPERTIES RAMPART_HARDWARE_DEFINITION "${def}"
                                               RAMPART_HARDWARE_DEFINITION_DIRS "${dirs}")
endfunction()

# azsphere_target_add_image_package(target [MANIFEST_FILE file] [RESOURCE_FILES ...]
# [DEBUG_LIB ...]) builds ${target}.imagepackage in the build folder: a Rampart image package
# of the module and the app manifest (app_manifest.json unless MANIFEST_FILE), converted from
# Azure Sphere's form, $NAMEs resolved with the target's hardware definition, signed with the
# developer key by `rampart image pack`. Call it after azsphere_target_hardware_definition.
function(azsphere_target_add_image_package target)
    cmake_parse_arguments(PARSE_ARGV 1 PKG "" "MANIFEST_FILE" "RESOURCE_FILES;DEBUG_LIB")
    if(PKG_RESOURCE_FILES)
        message(FATAL_ERROR "RESOURCE_FILES: a Rampart image package holds only the module; see docs/c-apps.md")
    endif()
    _rampart_need_cli()
    set(manifest "${CMAKE_CURRENT_SOURCE_DIR}/app_manifest.json")
    if(PKG_MANIFEST_FILE)
        get_filename_component(manifest "${PKG_MANIFEST_FILE}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    endif()
    get_target_property(def ${target} RAMPART_HARDWARE_DEFINITION)
    get_target_property(dirs ${target} RAMPART_HARDWARE_DEFINITION_DIRS)
    set(hwargs --azure-sphere)
    if(NOT def)
        set(def "")
    endif()
    if(def)
        list(APPEND hwargs --hardware-definition "${def}")
        foreach(d IN LISTS dirs)
            list(APPEND hwargs --hardware-definition-dir "${d}")
        endforeach()
    endif()
    set(out "${CMAKE_CURRENT_BINARY_DIR}/${target}.imagepackage")
    add_custom_command(
        OUTPUT "${out}"
        COMMAND "${RAMPART_CLI}" image pack --manifest "${manifest}" ${hwargs}
                --payload "$<TARGET_FILE:${target}>" --output "${out}"
        DEPENDS ${target} "${manifest}" ${def}
        COMMENT "Packing ${target}.imagepackage with the developer key"
        VERBATIM)
    add_custom_target(${target}-imagepackage ALL DEPENDS "${out}")
endfunction()
