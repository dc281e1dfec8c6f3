# The fuzzing configuration (-DSLUICE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang):
# every layer is instrumented for libFuzzer's coverage feedback and built with AddressSanitizer and
# UndefinedBehaviorSanitizer, so a defect in Sluice's own code on a hostile partition stops the
# fuzzer at the faulty line. Only the harnesses in tests/fuzz and the layers they link get built.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "SLUICE_FUZZ needs clang++ (libFuzzer): configure with "
                      "-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
endif()
# Directory-wide on purpose: instrumentation must reach every object the harness links, and this
# configuration builds nothing that ships.
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer -g)
add_link_options(-fsanitize=address,undefined)
