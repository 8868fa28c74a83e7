# Helpers shared by every folder's CMakeLists.txt.

# gpuslice_test(NAME SOURCES... [LIBS lib...]) — one GoogleTest binary, registered with CTest.
# Each test case becomes its own CTest entry so failures name the case.
function(gpuslice_test name)
  if(NOT GPUSLICE_BUILD_TESTS OR GPUSLICE_FUZZ)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    GPUSLICE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    GPUSLICE_BINARY_DIR="${PROJECT_BINARY_DIR}")
  include(GoogleTest)
  # RapidCheck draws from a fixed seed so runs are reproducible; override RC_PARAMS to explore.
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS unit ENVIRONMENT "RC_PARAMS=seed=20261124 max_success=300")
endfunction()
