// The column-at-a-time evaluation of muparser's bytecode gives, bit for bit, what muparser's own
// row-by-row evaluation gives, for every construct the pipeline accepts.
#include "transform/expression.hpp"

#include "sluice/error.hpp"

#include <gtest/gtest.h>
#include <muParser.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace sluice::transform {
namespace {

constexpr std::int64_t rows = 3000;

struct Columns {
  std::vector<std::vector<double>> values;
  std::vector<std::string> names{"a", "b", "c"};
};

Columns make_columns() {
  std::mt19937_64 random(7);
  std::normal_distribution<double> normal(0.0, 3.0);
  Columns columns;
  for (int k = 0; k < 3; ++k) {
    std::vector<double> v(rows);
    for (auto& x : v) x = normal(random);
    v[5] = 0.0;
    v[6] = -1.0;
    v[7] = std::nan("");
    v[8] = 1e300;
    columns.values.push_back(v);
  }
  return columns;
}

bool same_bits(double x, double y) {
  if (std::isnan(x) && std::isnan(y)) return true;
  return std::memcmp(&x, &y, sizeof x) == 0;
}

// muparser itself, one row at a time, with its built-in functions.
std::vector<double> reference(const std::string& text, const Columns& columns) {
  mu::Parser parser;
  double a = 0, b = 0, c = 0;
  parser.DefineVar("a", &a);
  parser.DefineVar("b", &b);
  parser.DefineVar("c", &c);
  parser.SetExpr(text);
  std::vector<double> out(rows);
  for (std::int64_t i = 0; i < rows; ++i) {
    a = columns.values[0][static_cast<std::size_t>(i)];
    b = columns.values[1][static_cast<std::size_t>(i)];
    c = columns.values[2][static_cast<std::size_t>(i)];
    out[static_cast<std::size_t>(i)] = parser.Eval();
  }
  return out;
}

std::vector<double> columnar(const std::string& text, const Columns& columns) {
  const std::vector<std::string> used = Expression::variables(text, "test");
  Expression expression(text, used, "test");
  std::vector<const double*> pointers;
  for (const std::string& name : used) {
    pointers.push_back(columns.values[static_cast<std::size_t>(name[0] - 'a')].data());
  }
  std::vector<double> out(rows);
  Expression::Workspace workspace;
  expression.evaluate(pointers, rows, out.data(), workspace);
  return out;
}

class ExpressionMatchesMuparser : public ::testing::TestWithParam<const char*> {};

TEST_P(ExpressionMatchesMuparser, BitForBit) {
  const Columns columns = make_columns();
  const std::string text = GetParam();
  const std::vector<double> expected = reference(text, columns);
  const std::vector<double> actual = columnar(text, columns);
  for (std::int64_t i = 0; i < rows; ++i) {
    ASSERT_TRUE(same_bits(actual[static_cast<std::size_t>(i)], expected[static_cast<std::size_t>(i)]))
        << text << " at row " << i << ": " << actual[static_cast<std::size_t>(i)] << " vs "
        << expected[static_cast<std::size_t>(i)];
  }
}

INSTANTIATE_TEST_SUITE_P(
    Constructs, ExpressionMatchesMuparser,
    ::testing::Values("a", "2.5", "a + b * c", "a - b / c", "a * 2 + 1", "-a + 3", "a^2", "a^3 + b^4",
                      "2 * a * 3 + b", "a > 0 && b < 1", "a >= 0 || c <= -1", "a == b", "a != 0",
                      "a > 0 ? b : c", "a > 0 ? (b > 0 ? 1 : 2) : (c > 0 ? 3 : a * b)",
                      "log(abs(a) + 1) * exp(b / 10)", "sqrt(abs(a)) - sin(c)", "min(a, b, c)",
                      "max(a, 2 * b)", "(a + b) * (a - b) / (c * c + 1)", "a^b", "1 / a",
                      "a > 0 ? log(a) : -log(-a)", "max(a, 1) + min(b, c, 0, a)"));

TEST(Expression, RejectsSyntaxErrorsWithPosition) {
  try {
    Expression::variables("a * (b + ", "transform[3] (derive)");
    FAIL() << "no error";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("transform[3] (derive)"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("position"), std::string::npos) << error.what();
  }
}

TEST(Expression, ListsVariablesInFirstUseOrder) {
  EXPECT_EQ(Expression::variables("zeta * alpha + zeta - beta", "t"),
            (std::vector<std::string>{"zeta", "alpha", "beta"}));
}

TEST(Expression, ExtraFunctionsFollowTheirDefinitions) {
  const Columns columns = make_columns();
  const std::vector<double> clipped = columnar("clip(a, -1, 2)", columns);
  const std::vector<double> powered = columnar("pow(abs(b), 0.5)", columns);
  for (std::size_t i = 0; i < static_cast<std::size_t>(rows); ++i) {
    const double a = columns.values[0][i];
    const double expected = a < -1 ? -1 : (a > 2 ? 2 : a);
    ASSERT_TRUE(same_bits(clipped[i], expected)) << i;
    ASSERT_TRUE(same_bits(powered[i], std::pow(std::fabs(columns.values[1][i]), 0.5))) << i;
  }
}

} // namespace
} // namespace sluice::transform
