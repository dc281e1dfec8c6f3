// TempDir: a fresh directory per test, removed afterwards; shared by all ranks in MPI tests.
#pragma once

#include "sluice/mpi/communicator.hpp"

#include <filesystem>
#include <random>
#include <string>

namespace sluice::testing_support {

class TempDir {
public:
  /// Serial tests: a directory private to this process.
  TempDir() : path_(make_unique()) {}
  /// MPI tests: rank 0 creates the directory and broadcasts its path.
  explicit TempDir(const mpi::Communicator& comm) : comm_(&comm) {
    std::string text;
    if (comm.is_root()) text = make_unique().string();
    comm.broadcast(text);
    path_ = text;
  }
  ~TempDir() {
    if (comm_ != nullptr) comm_->barrier();
    if (comm_ == nullptr || comm_->is_root()) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
  static std::filesystem::path make_unique() {
    std::random_device device;
    auto path = std::filesystem::temp_directory_path() /
                ("sluice-test-" + std::to_string(device()) + "-" + std::to_string(device()));
    std::filesystem::create_directories(path);
    return path;
  }

  const mpi::Communicator* comm_ = nullptr;
  std::filesystem::path path_;
};

} // namespace sluice::testing_support
