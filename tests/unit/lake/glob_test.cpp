// Tests of glob_match: fnmatch per component plus the recursive `**`.
#include "sluice/lake/glob.hpp"

#include <gtest/gtest.h>

using sluice::lake::glob_match;

TEST(GlobTest, match_double_star_spans_any_depth) {
  EXPECT_TRUE(glob_match("**/*.h5", "a.h5"));
  EXPECT_TRUE(glob_match("**/*.h5", "day=1/a.h5"));
  EXPECT_TRUE(glob_match("**/*.h5", "x/y/z/a.h5"));
  EXPECT_FALSE(glob_match("**/*.h5", "x/y/a.h5.tmp"));
}

TEST(GlobTest, match_single_star_stays_in_one_component) {
  EXPECT_TRUE(glob_match("*/part-*.h5", "day=1/part-0.h5"));
  EXPECT_FALSE(glob_match("*/part-*.h5", "part-0.h5"));
  EXPECT_FALSE(glob_match("*/part-*.h5", "a/b/part-0.h5"));
  EXPECT_FALSE(glob_match("*.h5", "a/b.h5"));
}

TEST(GlobTest, match_character_classes_and_hidden_files) {
  EXPECT_TRUE(glob_match("day=2026-11-0[1-3]/*.h5", "day=2026-11-02/p.h5"));
  EXPECT_FALSE(glob_match("day=2026-11-0[1-3]/*.h5", "day=2026-11-04/p.h5"));
  EXPECT_FALSE(glob_match("**/*.h5", ".hidden.h5")); // leading dots need an explicit pattern
  EXPECT_TRUE(glob_match("**/b/**/*.h5", "a/b/c/d.h5"));
}
