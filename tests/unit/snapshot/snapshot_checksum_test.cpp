// Tests of snapshot integrity: every flipped byte, truncation, extension, newer layouts refused.
#include "sluice/snapshot/snapshot_checksum.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/attributes.hpp"
#include "sluice/snapshot/snapshot.hpp"
#include "snapshot_fixtures.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

using namespace sluice::snapshot;

namespace {

std::string bytes_of(const std::filesystem::path& path) {
  std::ifstream stream(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string data_error_of(const std::filesystem::path& path) {
  try {
    read_snapshot(path);
  } catch (const sluice::DataError& error) {
    return error.what();
  }
  return "no error";
}

} // namespace

TEST(SnapshotChecksumTest, written_snapshots_carry_a_readable_header_and_verify) {
  sluice::testing_support::TempDir dir;
  write_snapshot(dir / "s.h5", sluice::testing_support::ridge_snapshot("m", 1));
  const std::string bytes = bytes_of(dir / "s.h5");
  ASSERT_GT(bytes.size(), checksum_header_bytes);
  EXPECT_TRUE(bytes.starts_with("sluice-snapshot-checksum 1\nalgorithm xxh3-128\ncontent-bytes "));
  EXPECT_EQ(bytes.substr(checksum_header_bytes, 8), "\x89HDF\r\n\x1a\n"); // the superblock follows
  const SnapshotChecksum recorded = verify_snapshot_file(dir / "s.h5");
  EXPECT_EQ(recorded.content_bytes, static_cast<std::int64_t>(bytes.size() - checksum_header_bytes));
  EXPECT_EQ(recorded.xxh3_128.size(), 32u);
  EXPECT_NE(bytes.find("content-xxh3-128 " + recorded.xxh3_128 + "\n"), std::string::npos);
  EXPECT_EQ(read_snapshot(dir / "s.h5").model_name, "m");
}

// Every byte of a real snapshot flipped in turn, in place (rewriting the whole file each time
// makes ext4 flush it on close): read_snapshot refuses each with one message naming the file.
// SLUICE_CHECKSUM_SAMPLE=N flips every Nth byte only.
TEST(SnapshotChecksumTest, a_flipped_byte_anywhere_is_refused) {
  sluice::testing_support::TempDir dir;
  const std::filesystem::path bad = dir / "bad.h5";
  write_snapshot(bad, sluice::testing_support::ridge_snapshot("m", 1));
  const std::string good = bytes_of(bad);
  std::size_t step = 1;
  if (const char* sample = std::getenv("SLUICE_CHECKSUM_SAMPLE")) step = std::max(1, std::atoi(sample));
  std::fstream file(bad, std::ios::in | std::ios::out | std::ios::binary);
  std::size_t num_flipped = 0;
  for (std::size_t i = 0; i < good.size(); i += step) {
    const char flipped = static_cast<char>(good[i] ^ (i % 2 == 0 ? 0x01 : 0x80));
    file.seekp(static_cast<std::streamoff>(i));
    file.put(flipped);
    file.flush();
    const std::string message = data_error_of(bad);
    file.seekp(static_cast<std::streamoff>(i));
    file.put(good[i]);
    file.flush();
    ASSERT_NE(message, "no error") << "byte " << i << " flipped was accepted";
    ASSERT_NE(message.find(bad.string()), std::string::npos) << "byte " << i << ": " << message;
    ++num_flipped;
  }
  EXPECT_EQ(num_flipped, (good.size() + step - 1) / step);
  EXPECT_GT(good.size(), 4000u); // a real snapshot: superblock, object headers, heaps, data
  EXPECT_EQ(data_error_of(bad), "no error");
  EXPECT_EQ(bytes_of(bad), good);
}

TEST(SnapshotChecksumTest, truncated_extended_headerless_and_empty_files_are_refused_by_name) {
  sluice::testing_support::TempDir dir;
  write_snapshot(dir / "good.h5", sluice::testing_support::ridge_snapshot("m", 1));
  const std::string good = bytes_of(dir / "good.h5");
  write_bytes(dir / "torn.h5", good.substr(0, good.size() / 2));
  EXPECT_NE(data_error_of(dir / "torn.h5").find("torn.h5\" is truncated"), std::string::npos)
      << data_error_of(dir / "torn.h5");
  write_bytes(dir / "long.h5", good + "x");
  EXPECT_NE(data_error_of(dir / "long.h5").find("is extended"), std::string::npos);
  write_bytes(dir / "header-only.h5", good.substr(0, checksum_header_bytes));
  EXPECT_NE(data_error_of(dir / "header-only.h5").find("truncated"), std::string::npos);
  write_bytes(dir / "short.h5", good.substr(0, 100));
  EXPECT_NE(data_error_of(dir / "short.h5").find("short.h5"), std::string::npos);
  write_bytes(dir / "empty.h5", "");
  EXPECT_NE(data_error_of(dir / "empty.h5").find("not a Sluice snapshot"), std::string::npos);
  // The same HDF5 bytes without the header: format_version 3 requires one.
  write_bytes(dir / "plain.h5", good.substr(checksum_header_bytes));
  EXPECT_NE(data_error_of(dir / "plain.h5").find("has no Sluice checksum header although its format_version"),
            std::string::npos)
      << data_error_of(dir / "plain.h5");
  EXPECT_THROW(verify_snapshot_file(dir / "plain.h5"), sluice::DataError);
  // A format_version 2 file from before checksums is still read (unchecked), never verified.
  {
    hid_t file = H5Fopen((dir / "plain.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    ASSERT_GE(H5Adelete(file, "format_version"), 0);
    sluice::hdf5::write_attribute(file, "format_version", std::int64_t{2});
    H5Fclose(file);
  }
  EXPECT_FALSE(verify_snapshot_for_reading(dir / "plain.h5"));
  EXPECT_THROW(verify_snapshot_file(dir / "plain.h5"), sluice::DataError);
  write_bytes(dir / "other.h5", "\x89HDF\r\n\x1a\nnot really");
  EXPECT_NE(data_error_of(dir / "other.h5").find("is not a Sluice snapshot"), std::string::npos);
  EXPECT_NE(data_error_of(dir / "missing.h5").find("missing.h5"), std::string::npos);
}

TEST(SnapshotChecksumTest, newer_layouts_are_refused_naming_both_versions) {
  sluice::testing_support::TempDir dir;
  write_snapshot(dir / "good.h5", sluice::testing_support::ridge_snapshot("m", 1));
  std::string bytes = bytes_of(dir / "good.h5");
  bytes[std::string("sluice-snapshot-checksum ").size()] = '2';
  write_bytes(dir / "header2.h5", bytes);
  EXPECT_NE(data_error_of(dir / "header2.h5").find("checksum header of version 2; this Sluice reads version 1"),
            std::string::npos)
      << data_error_of(dir / "header2.h5");

  // A snapshot of a newer format_version, sealed properly: refused by the format check.
  const std::filesystem::path newer = dir / "newer.h5";
  write_snapshot(newer, sluice::testing_support::ridge_snapshot("m", 1));
  std::string resealed = bytes_of(newer);
  std::fill(resealed.begin(), resealed.begin() + checksum_header_bytes, '\0');
  write_bytes(newer, resealed);
  {
    hid_t file = H5Fopen(newer.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    ASSERT_GE(H5Adelete(file, "format_version"), 0);
    sluice::hdf5::write_attribute(file, "format_version", std::int64_t{format_version + 1});
    H5Fclose(file);
  }
  seal_snapshot_file(newer);
  const std::string message = data_error_of(newer);
  EXPECT_NE(message.find("format_version " + std::to_string(format_version + 1)), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(format_version)), std::string::npos) << message;
}

TEST(SnapshotChecksumTest, seal_refuses_a_file_without_a_reserved_block) {
  sluice::testing_support::TempDir dir;
  write_snapshot(dir / "good.h5", sluice::testing_support::ridge_snapshot("m", 1));
  const std::string before = bytes_of(dir / "good.h5");
  EXPECT_THROW(seal_snapshot_file(dir / "good.h5"), sluice::DataError); // already sealed
  EXPECT_EQ(bytes_of(dir / "good.h5"), before);
  write_bytes(dir / "plain.h5", before.substr(checksum_header_bytes));
  EXPECT_THROW(seal_snapshot_file(dir / "plain.h5"), sluice::DataError); // would overwrite HDF5
  EXPECT_EQ(bytes_of(dir / "plain.h5"), before.substr(checksum_header_bytes));
}
