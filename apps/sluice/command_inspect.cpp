// sluice inspect LAKE: list partitions, their Hive keys, row counts and schema problems.
#include "commands.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/dataset.hpp"
#include "sluice/hdf5/file.hpp"
#include "sluice/lake/catalog.hpp"

#include <fmt/format.h>

namespace sluice::app {
namespace {

struct InspectArguments {
  std::string lake;
  std::string glob = "**/*.h5";
  std::string group = "/";
};

// One line per partition: its path, then each member dataset with dtype and length.
std::string describe_partition(const lake::PartitionInfo& partition, const std::string& group) {
  try {
    hdf5::File file = hdf5::File::open_read(partition.path);
    hdf5::GroupHandle table = hdf5::open_group(file.id(), group);
    std::string columns;
    for (const std::string& name : hdf5::member_names(table.get())) {
      std::string type;
      try {
        hdf5::Dataset dataset = hdf5::Dataset::open(table.get(), name);
        type = fmt::format("{}[{}]", hdf5::dtype_name(dataset.dtype()), dataset.length());
        if (dataset.rank() != 1) type = fmt::format("{}-D!", dataset.rank());
      } catch (const Error&) {
        type = "unsupported";
      }
      columns += fmt::format(" {}:{}", name, type);
    }
    return columns;
  } catch (const Error& error) {
    return fmt::format(" ERROR {}", error.what());
  }
}

int inspect(const InspectArguments& a) {
  auto partitions = lake::discover_partitions({.root = a.lake, .glob = a.glob});
  for (const lake::PartitionInfo& partition : partitions) {
    fmt::print("{} ({} bytes){}\n", partition.relative_path, partition.file_bytes,
               describe_partition(partition, a.group));
  }
  fmt::print("{} partitions\n", partitions.size());
  return 0;
}

} // namespace

void add_inspect_command(CLI::App& app, Command& selected) {
  auto a = std::make_shared<InspectArguments>();
  CLI::App* command = app.add_subcommand("inspect", "List a lake's partitions and columns");
  command->add_option("lake", a->lake, "Lake directory")->required();
  command->add_option("--glob", a->glob, "Partition glob");
  command->add_option("--group", a->group, "HDF5 group holding the table");
  command->callback([a, &selected] {
    selected.local = [a] { return inspect(*a); };
  });
}

} // namespace sluice::app
