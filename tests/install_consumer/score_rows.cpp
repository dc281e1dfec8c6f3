// score_rows REGISTRY MODEL[@ALIAS] < rows.csv: scores CSV rows (a header of column names, then
// numbers) with the served model and prints "model NAME version N", the output names, and one
// line of outputs per row (17 significant digits).
#include <sluice/serving/scoring_service.hpp>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, ',')) fields.push_back(field);
  return fields;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: score_rows REGISTRY MODEL < rows.csv\n");
    return 2;
  }
  try {
    sluice::serving::ScoringService service(sluice::serving::ModelSource::from_registry(argv[1], argv[2]));
    std::string line;
    std::getline(std::cin, line);
    const std::vector<std::string> names = split(line);
    std::vector<std::vector<double>> values(names.size());
    while (std::getline(std::cin, line)) {
      const std::vector<std::string> fields = split(line);
      for (std::size_t j = 0; j < names.size(); ++j) values[j].push_back(std::stod(fields.at(j)));
    }
    std::vector<sluice::serving::NamedColumn> columns;
    for (std::size_t j = 0; j < names.size(); ++j) columns.push_back({names[j], values[j]});
    sluice::serving::Scores scores = service.score(columns);
    std::printf("model %s version %lld\n", scores.model->name().c_str(),
                static_cast<long long>(scores.model->version()));
    for (const std::string& output : scores.model->outputs()) std::printf("%s ", output.c_str());
    std::printf("\n");
    for (Eigen::Index i = 0; i < scores.outputs.rows(); ++i) {
      for (Eigen::Index c = 0; c < scores.outputs.cols(); ++c) std::printf("%.17g ", scores.outputs(i, c));
      std::printf("\n");
    }
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "score_rows: %s\n", error.what());
    return 1;
  }
}
