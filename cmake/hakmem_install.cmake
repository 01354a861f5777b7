# Installing hakmem: the libraries and the CMake package (find_package(hakmem)), the launcher and
# the statistics tool, and the Debian packages (cpack -G DEB). Included by the top CMakeLists.txt
# in normal (not sanitizer) builds, after the library targets exist.
#
# Components: `runtime` (libhakmem.so.0, bin/hakmem, bin/hakmem-stats) and `dev` (header, static
# libraries, libhakmem.so, hakmem.pc, the CMake package). They are the two Debian packages.
include(CMakePackageConfigHelpers)

set(HAK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/hakmem)

# ---- Libraries and the CMake package ----------------------------------------------------------
# Imported as hakmem::hakmem, hakmem::hakmem_static and hakmem::prefixed.
set_target_properties(hakmem_prefixed PROPERTIES EXPORT_NAME prefixed)
install(TARGETS hakmem hakmem_static hakmem_prefixed EXPORT hakmemTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(EXPORT hakmemTargets NAMESPACE hakmem:: DESTINATION ${HAK_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/hakmemConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/hakmemConfig.cmake
                              INSTALL_DESTINATION ${HAK_CMAKE_DIR})
# 0.x: a new minor version may change the API, so only the same major.minor is compatible.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/hakmemConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/hakmemConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/hakmemConfigVersion.cmake
        DESTINATION ${HAK_CMAKE_DIR} COMPONENT dev)

# ---- The launcher and the statistics tool ------------------------------------------------------
# The launcher finds the library relative to itself: HAK_LAUNCHER_LIBDIR is the library directory
# relative to the launcher's, in the build tree (build/bin/hakmem -> build/) and installed
# (bin/ -> lib/ or lib/<multiarch>/).
function(hak_configure_launcher out libdir_rel)
  set(HAK_LAUNCHER_LIBDIR ${libdir_rel})
  set(HAK_LAUNCHER_SONAME libhakmem.so.0)
  configure_file(${PROJECT_SOURCE_DIR}/tools/hakmem.in ${out} @ONLY)
endfunction()
file(RELATIVE_PATH _hak_bin_to_lib /p/${CMAKE_INSTALL_BINDIR} /p/${CMAKE_INSTALL_LIBDIR})
hak_configure_launcher(${CMAKE_CURRENT_BINARY_DIR}/install-bin/hakmem "${_hak_bin_to_lib}")
install(PROGRAMS ${CMAKE_CURRENT_BINARY_DIR}/install-bin/hakmem ${PROJECT_SOURCE_DIR}/tools/hakmem-stats
        DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
# Build tree: build/bin/hakmem runs build/libhakmem.so.0 (the library's own directory).
file(RELATIVE_PATH _hak_bin_to_lib ${CMAKE_CURRENT_BINARY_DIR}/bin ${CMAKE_CURRENT_BINARY_DIR})
hak_configure_launcher(${CMAKE_CURRENT_BINARY_DIR}/bin/hakmem "${_hak_bin_to_lib}")
file(COPY ${PROJECT_SOURCE_DIR}/tools/hakmem-stats DESTINATION ${CMAKE_CURRENT_BINARY_DIR}/bin)
file(CHMOD ${CMAKE_CURRENT_BINARY_DIR}/bin/hakmem PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
     GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# ---- Debian packages: cpack -G DEB ------------------------------------------------------------
# Two packages: `hakmem` (the shared library, the launcher, hakmem-stats) and `libhakmem-dev`
# (everything to build against it). Their library dependencies come from dpkg-shlibdeps (libc6,
# liburcu8); nothing of the C++ runtime (docs/architecture.md).
if(HAK_TOP_LEVEL)
  set(CPACK_PACKAGE_NAME hakmem)
  set(CPACK_PACKAGE_VENDOR "hakmem")
  set(CPACK_PACKAGE_CONTACT "hakmem maintainers <hakmem@localhost>")
  set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "General-purpose malloc replacement with a background refill thread")
  set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
  set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
  set(CPACK_DEB_COMPONENT_INSTALL ON)
  set(CPACK_COMPONENTS_ALL runtime dev)
  set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
  set(CPACK_DEBIAN_PACKAGE_SECTION libs)
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME hakmem)
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS "python3, gnuplot-nox | gnuplot")
  set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "General-purpose malloc replacement with a background refill thread
 libhakmem.so replaces malloc, free, C++ operator new/delete and glibc's malloc
 extensions, by linking or LD_PRELOAD; the launcher `hakmem` runs a program
 under it, and `hakmem-stats` plots its live statistics (python3, gnuplot).")
  set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
  set(CPACK_DEBIAN_DEV_PACKAGE_NAME libhakmem-dev)
  set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
  set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "hakmem (= ${PROJECT_VERSION}), liburcu-dev")
  set(CPACK_DEBIAN_DEV_DESCRIPTION "hakmem allocator: development files
 The header hakmem.h, the static libraries (libhakmem.a, libhakmem_prefixed.a),
 pkg-config file and CMake package (find_package(hakmem)).")
  include(CPack)
endif()
