// Times one streaming pass over a lake, each rank reading a strided share of the partitions:
//   --mode read      the pipeline's raw columns, block by block (what every pass pays)
//   --mode pipeline  the same read, with the snapshot's fitted pipeline applied to every block
// Prints one JSON line on rank 0: mode, ranks, rows in, rows out, seconds, rows per second.
#include "sluice/lake/catalog.hpp"
#include "sluice/lake/partition_reader.hpp"
#include "sluice/mpi/communicator.hpp"
#include "sluice/mpi/environment.hpp"
#include "sluice/snapshot/snapshot.hpp"
#include "sluice/transform/pipeline_runner.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <vector>

int main(int argc, char** argv) {
  sluice::mpi::Environment environment(argc, argv);
  sluice::mpi::Communicator comm = sluice::mpi::Communicator::borrow(MPI_COMM_WORLD);
  CLI::App app("sluice_pipeline_bench");
  std::string lake, snapshot_file, mode = "pipeline";
  std::int64_t block_rows = 16384;
  app.add_option("--lake", lake)->required();
  app.add_option("--snapshot", snapshot_file, "snapshot whose fitted pipeline is applied")->required();
  app.add_option("--mode", mode)->check(CLI::IsMember({"read", "pipeline"}));
  app.add_option("--block-rows", block_rows);
  CLI11_PARSE(app, argc, argv);

  const sluice::snapshot::Snapshot snapshot = sluice::snapshot::read_snapshot(snapshot_file);
  const sluice::transform::Pipeline& pipeline = *snapshot.pipeline;
  std::vector<std::string> columns;
  for (const std::string& name : pipeline.raw_inputs()) {
    if (name != snapshot.label) columns.push_back(name);
  }
  const auto partitions = sluice::lake::discover_partitions({.root = lake});
  const auto k = static_cast<std::int64_t>(pipeline.raw_inputs().size());
  std::vector<double> block(static_cast<std::size_t>(block_rows * k));
  sluice::transform::PipelineRunner runner(pipeline, sluice::transform::fully_fitted,
                                           sluice::transform::RowSet::all);
  comm.barrier();
  const double start = comm.wall_time();
  std::int64_t rows_in = 0, rows_out = 0;
  for (std::size_t i = static_cast<std::size_t>(comm.rank()); i < partitions.size();
       i += static_cast<std::size_t>(comm.size())) {
    sluice::lake::PartitionReader reader(partitions[i].path, "/", columns);
    for (std::int64_t row = 0; row < reader.num_rows(); row += block_rows) {
      const std::int64_t count = std::min(block_rows, reader.num_rows() - row);
      reader.read_block(row, count, block.data(), block_rows);
      if (mode == "pipeline") {
        rows_out += runner.apply(block.data(), block_rows, count,
                                 {&partitions[i].keys, partitions[i].path_hash, row, ""});
      }
    }
    rows_in += reader.num_rows();
  }
  comm.barrier();
  const double seconds = comm.wall_time() - start;
  rows_in = comm.sum(rows_in);
  rows_out = comm.sum(rows_out);
  if (comm.is_root()) {
    fmt::print("{{\"mode\": \"{}\", \"ranks\": {}, \"rows_in\": {}, \"rows_out\": {}, \"seconds\": {:.6f}, "
               "\"rows_per_s\": {:.0f}}}\n",
               mode, comm.size(), rows_in, rows_out, seconds, static_cast<double>(rows_in) / seconds);
  }
  return 0;
}
