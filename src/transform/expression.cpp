// muparser parses and optimises the formula once; its reverse-Polish bytecode is then run one
// whole column per token (a vector machine), so a block of rows costs a few tight loops rather
// than a bytecode interpretation per row. Compiled with -ffp-contract=off (see CMakeLists.txt) so
// that each operation rounds exactly as muparser's scalar evaluation does.
#include "expression.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>
#include <muParser.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>

namespace sluice::transform {
namespace {

// The functions an expression may call: deterministic and total (no rnd()).
double clip(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }
double power(double x, double y) { return std::pow(x, y); }
double natural_log(double x) { return std::log(x); }
double log_10(double x) { return std::log10(x); }
double log_2(double x) { return std::log2(x); }
double exponential(double x) { return std::exp(x); }
double square_root(double x) { return std::sqrt(x); }
double absolute(double x) { return std::fabs(x); }
double floor_of(double x) { return std::floor(x); }
double ceil_of(double x) { return std::ceil(x); }
double round_of(double x) { return std::round(x); }
double sign_of(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : x); }
double sine(double x) { return std::sin(x); }
double cosine(double x) { return std::cos(x); }
double tangent(double x) { return std::tan(x); }
double tanh_of(double x) { return std::tanh(x); }
double is_nan(double x) { return std::isnan(x) ? 1.0 : 0.0; }
double minimum(const double* values, int count) {
  double result = values[0];
  for (int i = 1; i < count; ++i) result = std::min(result, values[i]);
  return result;
}
double maximum(const double* values, int count) {
  double result = values[0];
  for (int i = 1; i < count; ++i) result = std::max(result, values[i]);
  return result;
}

void define_functions(mu::Parser& parser) {
  parser.ClearFun();
  parser.DefineFun("clip", clip);
  parser.DefineFun("pow", power);
  parser.DefineFun("log", natural_log);
  parser.DefineFun("ln", natural_log);
  parser.DefineFun("log10", log_10);
  parser.DefineFun("log2", log_2);
  parser.DefineFun("exp", exponential);
  parser.DefineFun("sqrt", square_root);
  parser.DefineFun("abs", absolute);
  parser.DefineFun("floor", floor_of);
  parser.DefineFun("ceil", ceil_of);
  parser.DefineFun("round", round_of);
  parser.DefineFun("sign", sign_of);
  parser.DefineFun("sin", sine);
  parser.DefineFun("cos", cosine);
  parser.DefineFun("tan", tangent);
  parser.DefineFun("tanh", tanh_of);
  parser.DefineFun("isnan", is_nan);
  parser.DefineFun("min", minimum);
  parser.DefineFun("max", maximum);
}

[[noreturn]] void fail(const std::string& where, const std::string& text,
                       const mu::Parser::exception_type& error) {
  throw ConfigError(fmt::format("{}: expression '{}': {} (at position {})", where, text,
                                error.GetMsg(), error.GetPos()));
}

// Undefined names become variables, recorded in first-use order.
struct NameCollector {
  std::vector<std::string> names;
  std::deque<double> storage;
};

double* collect_name(const char* name, void* user) {
  auto* collector = static_cast<NameCollector*>(user);
  collector->names.emplace_back(name);
  return &collector->storage.emplace_back(0.0);
}

} // namespace

std::vector<std::string> Expression::variables(const std::string& text, const std::string& where) {
  NameCollector collector;
  try {
    mu::Parser parser;
    define_functions(parser);
    parser.SetVarFactory(collect_name, &collector);
    parser.SetExpr(text);
    parser.GetUsedVar(); // parses
    parser.Eval();       // builds the bytecode: catches what parsing alone lets through
  } catch (const mu::Parser::exception_type& error) {
    fail(where, text, error);
  }
  return collector.names;
}

struct Expression::Operand {
  const double* data = nullptr; // a column, or nullptr for a constant
  double constant = 0.0;
  int buffer = -1;              // the workspace buffer holding data, if any
};

Expression::Expression(const std::string& text, const std::vector<std::string>& names,
                       const std::string& where)
    : text_(text), names_(names) {
  // Each variable is bound to its own marker; the bytecode's pointers are mapped back to indices.
  auto markers = std::make_unique<double[]>(names.size() + 1);
  mu::Parser parser;
  try {
    define_functions(parser);
    for (std::size_t k = 0; k < names.size(); ++k) parser.DefineVar(names[k], &markers[k]);
    parser.SetExpr(text);
    parser.Eval();
  } catch (const mu::Parser::exception_type& error) {
    fail(where, text, error);
  }
  const mu::ParserByteCode& bytecode = parser.GetByteCode();
  const mu::SToken* tokens = bytecode.GetBase();
  const auto variable_of = [&](const double* pointer) {
    for (std::size_t k = 0; k < names.size(); ++k) {
      if (pointer == &markers[k]) return static_cast<int>(k);
    }
    throw ConfigError(fmt::format("{}: expression '{}' refers to a value that is not a column",
                                  where, text));
  };
  for (std::size_t i = 0; i < bytecode.GetSize() && tokens[i].Cmd != mu::cmEND; ++i) {
    const mu::SToken& token = tokens[i];
    Instruction instruction;
    instruction.code = token.Cmd;
    switch (token.Cmd) {
    case mu::cmVAL: instruction.offset = token.Val.data2; break;
    case mu::cmVAR:
    case mu::cmVARPOW2:
    case mu::cmVARPOW3:
    case mu::cmVARPOW4: instruction.variable = variable_of(token.Val.ptr); break;
    case mu::cmVARMUL:
      instruction.variable = variable_of(token.Val.ptr);
      instruction.factor = token.Val.data;
      instruction.offset = token.Val.data2;
      break;
    case mu::cmFUNC:
      if (token.Fun.argc > 3) {
        throw ConfigError(fmt::format("{}: expression '{}': functions of more than 3 arguments "
                                      "are not supported", where, text));
      }
      instruction.function = token.Fun.cb;
      instruction.argc = token.Fun.argc;
      break;
    case mu::cmIF:
    case mu::cmELSE: instruction.jump = token.Oprt.offset; break;
    case mu::cmLE: case mu::cmGE: case mu::cmNEQ: case mu::cmEQ: case mu::cmLT: case mu::cmGT:
    case mu::cmADD: case mu::cmSUB: case mu::cmMUL: case mu::cmDIV: case mu::cmPOW:
    case mu::cmLAND: case mu::cmLOR: case mu::cmENDIF: break;
    case mu::cmASSIGN:
      throw ConfigError(fmt::format("{}: expression '{}' assigns to a column; columns are read-only "
                                    "(write a derived column instead)", where, text));
    default:
      throw ConfigError(fmt::format("{}: expression '{}' uses a construct Sluice does not "
                                    "evaluate (muparser code {})", where, text,
                                    static_cast<int>(token.Cmd)));
    }
    program_.push_back(instruction);
  }
}

namespace {

// Loops over (column|constant) operands; each shape gets its own tight loop.
template <typename Op>
void binary(const double* a, double ca, const double* b, double cb, double* out, std::int64_t n,
            Op op) {
  if (a != nullptr && b != nullptr) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = op(a[i], b[i]);
  } else if (a != nullptr) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = op(a[i], cb);
  } else {
    for (std::int64_t i = 0; i < n; ++i) out[i] = op(ca, b[i]);
  }
}

} // namespace

void Expression::run(std::size_t begin, std::size_t end, const std::vector<const double*>& columns,
                     std::int64_t rows, std::vector<Operand>& stack, Workspace& workspace) const {
  const auto n = static_cast<std::size_t>(rows);
  const auto take_buffer = [&]() {
    const auto is_held = [&](std::size_t b) {
      return std::any_of(stack.begin(), stack.end(),
                         [&](const Operand& o) { return o.buffer == static_cast<int>(b); });
    };
    for (std::size_t b = 0; b < workspace.stack.size(); ++b) {
      if (!is_held(b)) {
        if (workspace.stack[b].size() < n) workspace.stack[b].resize(n);
        return static_cast<int>(b);
      }
    }
    workspace.stack.emplace_back(n);
    return static_cast<int>(workspace.stack.size() - 1);
  };
  // The result of an operation goes into a buffer its operands may already hold.
  const auto result_buffer = [&](const Operand& a, const Operand& b) {
    if (a.buffer >= 0) return a.buffer;
    if (b.buffer >= 0) return b.buffer;
    return take_buffer();
  };
  const auto column_operand = [&](int buffer) {
    return Operand{workspace.stack[static_cast<std::size_t>(buffer)].data(), 0.0, buffer};
  };

  for (std::size_t pc = begin; pc < end; ++pc) {
    const Instruction& in = program_[pc];
    switch (in.code) {
    case mu::cmVAL: stack.push_back({nullptr, in.offset, -1}); break;
    case mu::cmVAR: stack.push_back({columns[static_cast<std::size_t>(in.variable)], 0.0, -1}); break;
    case mu::cmVARMUL:
    case mu::cmVARPOW2:
    case mu::cmVARPOW3:
    case mu::cmVARPOW4: {
      const double* x = columns[static_cast<std::size_t>(in.variable)];
      const int buffer = take_buffer();
      double* out = workspace.stack[static_cast<std::size_t>(buffer)].data();
      if (in.code == mu::cmVARMUL) {
        for (std::size_t i = 0; i < n; ++i) out[i] = x[i] * in.factor + in.offset;
      } else if (in.code == mu::cmVARPOW2) {
        for (std::size_t i = 0; i < n; ++i) out[i] = x[i] * x[i];
      } else if (in.code == mu::cmVARPOW3) {
        for (std::size_t i = 0; i < n; ++i) out[i] = x[i] * x[i] * x[i];
      } else {
        for (std::size_t i = 0; i < n; ++i) out[i] = x[i] * x[i] * x[i] * x[i];
      }
      stack.push_back(column_operand(buffer));
      break;
    }
    case mu::cmFUNC: {
      const int argc = in.argc >= 0 ? in.argc : -in.argc;
      std::vector<Operand> args(stack.end() - argc, stack.end());
      stack.resize(stack.size() - static_cast<std::size_t>(argc));
      if (argc > 0 && std::all_of(args.begin(), args.end(), [](const Operand& o) { return !o.data; })) {
        // Constant arguments (left when a function is not folded): one call.
        double values[16];
        for (int k = 0; k < argc && k < 16; ++k) values[k] = args[static_cast<std::size_t>(k)].constant;
        double value = 0.0;
        if (in.argc < 0) value = in.function.call_multfun(values, argc);
        else if (argc == 1) value = in.function.call_fun<1>(values[0]);
        else if (argc == 2) value = in.function.call_fun<2>(values[0], values[1]);
        else value = in.function.call_fun<3>(values[0], values[1], values[2]);
        stack.push_back({nullptr, value, -1});
        break;
      }
      const auto at = [&](int k, std::size_t i) {
        const Operand& o = args[static_cast<std::size_t>(k)];
        return o.data != nullptr ? o.data[i] : o.constant;
      };
      // Written in place over an argument's buffer (row i is read before it is written); the
      // other arguments' buffers are not reused before the loop ends.
      int buffer = -1;
      for (const Operand& o : args) {
        if (o.buffer >= 0) {
          buffer = o.buffer;
          break;
        }
      }
      if (buffer < 0) buffer = take_buffer();
      double* out = workspace.stack[static_cast<std::size_t>(buffer)].data();
      if (in.argc < 0) {
        double values[64];
        const int count = std::min(argc, 64);
        for (std::size_t i = 0; i < n; ++i) {
          for (int k = 0; k < count; ++k) values[k] = at(k, i);
          out[i] = in.function.call_multfun(values, count);
        }
      } else if (argc == 0) {
        const double value = in.function.call_fun<0>();
        std::fill(out, out + n, value);
      } else if (argc == 1) {
        const double* x = args[0].data;
        for (std::size_t i = 0; i < n; ++i) out[i] = in.function.call_fun<1>(x[i]);
      } else if (argc == 2) {
        for (std::size_t i = 0; i < n; ++i) out[i] = in.function.call_fun<2>(at(0, i), at(1, i));
      } else {
        for (std::size_t i = 0; i < n; ++i) {
          out[i] = in.function.call_fun<3>(at(0, i), at(1, i), at(2, i));
        }
      }
      stack.push_back(column_operand(buffer));
      break;
    }
    case mu::cmIF: {
      // Both branches are computed for every row, then selected: the functions are pure.
      const Operand condition = stack.back();
      const std::size_t then_begin = pc + 1;
      const std::size_t else_token = pc + static_cast<std::size_t>(in.jump);
      const std::size_t after = else_token + static_cast<std::size_t>(program_[else_token].jump) + 1;
      run(then_begin, else_token, columns, rows, stack, workspace);
      run(else_token + 1, after, columns, rows, stack, workspace);
      const Operand no = stack[stack.size() - 1];
      const Operand yes = stack[stack.size() - 2];
      const int buffer = condition.buffer >= 0 ? condition.buffer
                   : yes.buffer >= 0     ? yes.buffer
                   : no.buffer >= 0      ? no.buffer
                                         : take_buffer();
      double* out = workspace.stack[static_cast<std::size_t>(buffer)].data();
      for (std::size_t i = 0; i < n; ++i) {
        const double c = condition.data != nullptr ? condition.data[i] : condition.constant;
        out[i] = c == 0 ? (no.data != nullptr ? no.data[i] : no.constant)
                        : (yes.data != nullptr ? yes.data[i] : yes.constant);
      }
      stack.resize(stack.size() - 3);
      stack.push_back(column_operand(buffer));
      pc = after - 1;
      break;
    }
    case mu::cmELSE:
    case mu::cmENDIF: break; // reached only as branch ends, handled by cmIF
    default: {
      const Operand b = stack.back();
      stack.pop_back();
      const Operand a = stack.back();
      if (a.data == nullptr && b.data == nullptr) {
        double value = 0.0;
        switch (in.code) {
        case mu::cmLE: value = a.constant <= b.constant; break;
        case mu::cmGE: value = a.constant >= b.constant; break;
        case mu::cmNEQ: value = a.constant != b.constant; break;
        case mu::cmEQ: value = a.constant == b.constant; break;
        case mu::cmLT: value = a.constant < b.constant; break;
        case mu::cmGT: value = a.constant > b.constant; break;
        case mu::cmADD: value = a.constant + b.constant; break;
        case mu::cmSUB: value = a.constant - b.constant; break;
        case mu::cmMUL: value = a.constant * b.constant; break;
        case mu::cmDIV: value = a.constant / b.constant; break;
        case mu::cmPOW: value = std::pow(a.constant, b.constant); break;
        case mu::cmLAND: value = (a.constant != 0) && (b.constant != 0); break;
        case mu::cmLOR: value = (a.constant != 0) || (b.constant != 0); break;
        default: break;
        }
        stack.back() = {nullptr, value, -1};
        break;
      }
      const int buffer = result_buffer(a, b);
      double* out = workspace.stack[static_cast<std::size_t>(buffer)].data();
      const double* pa = a.data;
      const double* pb = b.data;
      const double ca = a.constant, cb = b.constant;
      switch (in.code) {
      case mu::cmLE: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return double(x <= y); }); break;
      case mu::cmGE: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return double(x >= y); }); break;
      case mu::cmNEQ: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return double(x != y); }); break;
      case mu::cmEQ: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return double(x == y); }); break;
      case mu::cmLT: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return double(x < y); }); break;
      case mu::cmGT: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return double(x > y); }); break;
      case mu::cmADD: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return x + y; }); break;
      case mu::cmSUB: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return x - y; }); break;
      case mu::cmMUL: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return x * y; }); break;
      case mu::cmDIV: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return x / y; }); break;
      case mu::cmPOW: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return std::pow(x, y); }); break;
      case mu::cmLAND: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return double(x != 0 && y != 0); }); break;
      case mu::cmLOR: binary(pa, ca, pb, cb, out, rows, [](double x, double y) { return double(x != 0 || y != 0); }); break;
      default: break;
      }
      stack.back() = column_operand(buffer);
      break;
    }
    }
  }
}

void Expression::evaluate(const std::vector<const double*>& columns, std::int64_t rows, double* out,
                          Workspace& workspace) const {
  if (rows <= 0) return;
  std::vector<Operand> stack;
  stack.reserve(16);
  run(0, program_.size(), columns, rows, stack, workspace);
  const Operand& result = stack.back();
  if (result.data == nullptr) {
    std::fill(out, out + rows, result.constant);
  } else {
    std::copy(result.data, result.data + rows, out);
  }
}

} // namespace sluice::transform
