# Install rules: the public headers, every layer's static library, the sluice program, and a
# package config so that an application can find_package(sluice) and link sluice::serving (or
# sluice::sluice, every layer). Static layers carry their private dependencies as link-only
# entries, so the config finds every package the layers link (sluiceConfig.cmake.in).
include(CMakePackageConfigHelpers)

set(SLUICE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/sluice)
get_property(sluice_layers GLOBAL PROPERTY SLUICE_LAYERS)

# sluice::sluice: one name for the whole library.
add_library(sluice_all INTERFACE)
add_library(sluice::sluice ALIAS sluice_all)
target_link_libraries(sluice_all INTERFACE ${sluice_layers})
set_target_properties(sluice_all PROPERTIES EXPORT_NAME sluice)
set_target_properties(sluice_arch PROPERTIES EXPORT_NAME arch)
set_target_properties(sluice_warnings PROPERTIES EXPORT_NAME warnings)

install(TARGETS ${sluice_layers} sluice_all sluice_arch sluice_warnings
        EXPORT sluiceTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# sluice-check-partition beside sluice: `sluice run` finds it there ([lake] isolate).
install(TARGETS sluice sluice-check-partition RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/sluice DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")
install(EXPORT sluiceTargets NAMESPACE sluice:: DESTINATION ${SLUICE_INSTALL_CMAKEDIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/sluiceConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/sluiceConfig.cmake
                              INSTALL_DESTINATION ${SLUICE_INSTALL_CMAKEDIR})
# -march=native (SLUICE_NATIVE_ARCH) ties the libraries to this CPU family: exact version match.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/sluiceConfigVersion.cmake
                                 COMPATIBILITY ExactVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/sluiceConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/sluiceConfigVersion.cmake
        DESTINATION ${SLUICE_INSTALL_CMAKEDIR})
