// Expression: a formula over columns, parsed and compiled once by muparser, then evaluated a whole
// column at a time over muparser's own bytecode (no per-row interpretation, no parsing per row).
#pragma once

#include <muParserBytecode.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::transform {

/// A compiled expression. Immutable and shareable between threads; evaluate() takes its scratch
/// space from the caller.
class Expression {
public:
  /// The variable (column) names an expression uses, in first-use order. Throws ConfigError
  /// "WHERE: ... at position P" for a syntax error, an unknown function or an assignment.
  static std::vector<std::string> variables(const std::string& text, const std::string& where);

  /// Compiles `text` with `names` as its variables (all of variables(text)); evaluate() then
  /// takes one column pointer per name, in this order.
  Expression(const std::string& text, const std::vector<std::string>& names,
             const std::string& where);

  const std::string& text() const noexcept { return text_; }
  const std::vector<std::string>& names() const noexcept { return names_; }

  /// Scratch columns one evaluation needs: reuse across calls (one per thread).
  struct Workspace {
    std::vector<std::vector<double>> stack;
  };

  /// out[i] = value of the expression at row i, for i < rows; columns[k] holds variable k.
  /// The same values, bit for bit, as muparser's own evaluation of each row.
  void evaluate(const std::vector<const double*>& columns, std::int64_t rows, double* out,
                Workspace& workspace) const;

private:
  // One bytecode token, with the variable turned into an index into evaluate()'s columns.
  struct Instruction {
    mu::ECmdCode code = mu::cmUNKNOWN;
    int variable = -1;
    double factor = 1.0, offset = 0.0; // cmVAL: offset is the value; cmVARMUL: x·factor + offset
    mu::generic_callable_type function{};
    int argc = 0;
    int jump = 0;                      // cmIF / cmELSE: muparser's offset
  };

  struct Operand; // a stack entry: a column or a constant
  void run(std::size_t begin, std::size_t end, const std::vector<const double*>& columns,
           std::int64_t rows, std::vector<Operand>& stack, Workspace& workspace) const;

  std::string text_;
  std::vector<std::string> names_;
  std::vector<Instruction> program_;
};

} // namespace sluice::transform
