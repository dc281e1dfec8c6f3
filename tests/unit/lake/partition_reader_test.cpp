// Tests of PartitionReader: every contract dtype converts exactly; every malformation is named.
#include "sluice/lake/partition_reader.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/file.hpp"
#include "temp_dir.hpp"

#include <Eigen/Core>
#include <gtest/gtest.h>

#include <fstream>

using sluice::lake::PartitionReader;

namespace {

// Writes a dataset of any HDF5 type with the raw C API, as other tools would.
template <typename T>
void write_raw(hid_t file, const std::string& name, hid_t file_type, hid_t memory_type,
               const std::vector<T>& values, std::vector<hsize_t> dims = {}) {
  if (dims.empty()) dims = {values.size()};
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t dataset = H5Dcreate2(file, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Dclose(dataset);
  H5Sclose(space);
}

// h5py's bool: an int8 enum {FALSE = 0, TRUE = 1}.
void write_bool(hid_t file, const std::string& name, const std::vector<std::int8_t>& values) {
  hid_t type = H5Tenum_create(H5T_NATIVE_INT8);
  std::int8_t f = 0, t = 1;
  H5Tenum_insert(type, "FALSE", &f);
  H5Tenum_insert(type, "TRUE", &t);
  write_raw(file, name, type, type, values);
  H5Tclose(type);
}

std::string error_of(const std::filesystem::path& path, const std::vector<std::string>& columns,
                     const std::string& group = "/") {
  try {
    PartitionReader reader(path, group, columns);
  } catch (const sluice::DataError& error) {
    return error.what();
  }
  return "no error";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST(PartitionReaderTest, read_block_converts_every_contract_dtype) {
  sluice::testing_support::TempDir dir;
  auto path = dir / "p.h5";
  {
    auto file = sluice::hdf5::File::create(path);
    write_raw<double>(file.id(), "f64", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {1.5, -2.25, 3e300});
    write_raw<float>(file.id(), "f32", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {0.5f, -1.0f, 2.0f});
    write_raw<std::int64_t>(file.id(), "i64", H5T_STD_I64LE, H5T_NATIVE_INT64, {-(1LL << 52), 0, 7});
    write_raw<std::int32_t>(file.id(), "i32", H5T_STD_I32BE, H5T_NATIVE_INT32, {-5, 6, 2147483647});
    write_raw<std::int8_t>(file.id(), "i8", H5T_STD_I8LE, H5T_NATIVE_INT8, {-128, 0, 127});
    write_raw<std::uint8_t>(file.id(), "u8", H5T_STD_U8LE, H5T_NATIVE_UINT8, {0, 200, 255});
    write_bool(file.id(), "flag", {1, 0, 1});
  }
  std::vector<std::string> columns{"f64", "f32", "i64", "i32", "i8", "u8", "flag"};
  PartitionReader reader(path, "/", columns);
  ASSERT_EQ(reader.num_rows(), 3);
  Eigen::MatrixXd block(3, 7);
  reader.read_block(0, 3, block.data(), 3);
  Eigen::MatrixXd expected(3, 7);
  expected << 1.5, 0.5, -4503599627370496.0, -5, -128, 0, 1,   //
      -2.25, -1.0, 0, 6, 0, 200, 0,                              //
      3e300, 2.0, 7, 2147483647, 127, 255, 1;
  EXPECT_EQ(block, expected);
  EXPECT_EQ(reader.bytes_read(), 3 * 7 * 8);
}

TEST(PartitionReaderTest, checksum_does_not_depend_on_block_size) {
  sluice::testing_support::TempDir dir;
  std::vector<double> a(1000), b(1000);
  for (int i = 0; i < 1000; ++i) {
    a[i] = i * 0.5;
    b[i] = -i;
  }
  {
    auto file = sluice::hdf5::File::create(dir / "p.h5");
    sluice::hdf5::write_doubles(file.id(), "a", a, {.chunk_rows = 64, .deflate_level = 4, .is_shuffled = true});
    sluice::hdf5::write_doubles(file.id(), "b", b);
  }
  auto checksum_with_blocks = [&](std::int64_t block_rows) {
    PartitionReader reader(dir / "p.h5", "/", {"a", "b"});
    std::vector<double> buffer(static_cast<std::size_t>(2 * block_rows));
    for (std::int64_t row = 0; row < reader.num_rows(); row += block_rows) {
      reader.read_block(row, std::min(block_rows, reader.num_rows() - row), buffer.data(), block_rows);
    }
    return reader.checksum();
  };
  EXPECT_EQ(checksum_with_blocks(1000), checksum_with_blocks(7));
  EXPECT_EQ(checksum_with_blocks(1000), checksum_with_blocks(333));
  PartitionReader unread(dir / "p.h5", "/", {"a", "b"});
  EXPECT_THROW(unread.checksum(), sluice::Error);
  std::vector<double> buffer(20);
  EXPECT_THROW(unread.read_block(5, 10, buffer.data(), 10), sluice::Error); // out of order
}

TEST(PartitionReaderTest, constructor_names_each_malformation) {
  sluice::testing_support::TempDir dir;
  auto path = dir / "bad.h5";
  {
    auto file = sluice::hdf5::File::create(path);
    write_raw<double>(file.id(), "x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {1, 2, 3});
    write_raw<double>(file.id(), "short", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {1, 2});
    write_raw<double>(file.id(), "matrix", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {1, 2, 3, 4, 5, 6}, {3, 2});
    write_raw<std::int16_t>(file.id(), "i16", H5T_STD_I16LE, H5T_NATIVE_INT16, {1, 2, 3});
    write_raw<std::uint64_t>(file.id(), "u64", H5T_STD_U64LE, H5T_NATIVE_UINT64, {1, 2, 3});
  }
  EXPECT_TRUE(contains(error_of(path, {"x", "nope"}), "missing column '/nope'"));
  EXPECT_TRUE(contains(error_of(path, {"x", "nope"}), path.string()));
  EXPECT_TRUE(contains(error_of(path, {"x", "short"}), "unequal lengths"));
  EXPECT_TRUE(contains(error_of(path, {"x", "short"}), "'/short' has 2"));
  EXPECT_TRUE(contains(error_of(path, {"matrix"}), "'/matrix': dataset has 2 dimensions"));
  EXPECT_TRUE(contains(error_of(path, {"i16"}), "unsupported dtype 16-bit signed integer"));
  EXPECT_TRUE(contains(error_of(path, {"u64"}), "unsupported dtype 64-bit unsigned integer"));
  EXPECT_TRUE(contains(error_of(path, {"x"}, "/table"), "group '/table' not found"));

  std::ofstream(dir / "text.h5") << "this is not HDF5";
  EXPECT_TRUE(contains(error_of(dir / "text.h5", {"x"}), "not a readable HDF5 file"));
  EXPECT_TRUE(contains(error_of(dir / "absent.h5", {"x"}), "absent.h5"));
}

TEST(PartitionReaderTest, truncated_file_fails_with_its_name) {
  sluice::testing_support::TempDir dir;
  auto path = dir / "trunc.h5";
  {
    auto file = sluice::hdf5::File::create(path);
    sluice::hdf5::write_doubles(file.id(), "x", std::vector<double>(100000, 1.0));
  }
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  std::string message;
  try {
    PartitionReader reader(path, "/", {"x"});
    std::vector<double> buffer(static_cast<std::size_t>(reader.num_rows()));
    reader.read_block(0, reader.num_rows(), buffer.data(), reader.num_rows());
  } catch (const sluice::DataError& error) {
    message = error.what();
  }
  EXPECT_TRUE(contains(message, path.string())) << message;
}

namespace {

// A partition of two contiguous float64 columns behind a 1 KiB user block, as `h5py.File(...,
// userblock_size=1024)` writes: the data addresses then do not start at the file's first byte.
std::filesystem::path write_with_user_block(const std::filesystem::path& path, std::size_t rows) {
  hid_t creation = H5Pcreate(H5P_FILE_CREATE);
  H5Pset_userblock(creation, 1024);
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, creation, H5P_DEFAULT);
  std::vector<double> a(rows), b(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    a[i] = 0.5 * static_cast<double>(i);
    b[i] = -static_cast<double>(i * i);
  }
  write_raw(file, "a", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, a);
  write_raw(file, "b", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, b);
  H5Fclose(file);
  H5Pclose(creation);
  return path;
}

} // namespace

TEST(PartitionReaderTest, plain_float64_columns_are_read_directly_with_their_exact_values) {
  sluice::testing_support::TempDir dir;
  const auto path = write_with_user_block(dir / "plain.h5", 5000);
  PartitionReader reader(path, "/", {"b", "a"});
  ASSERT_TRUE(reader.reads_directly());
  std::vector<double> block(2 * 5000);
  for (std::int64_t row = 0; row < 5000; row += 1000) {
    reader.read_block(row, 1000, block.data() + row, 5000);
  }
  for (std::size_t i = 0; i < 5000; ++i) {
    ASSERT_EQ(block[i], -static_cast<double>(i * i)) << "b at row " << i;
    ASSERT_EQ(block[5000 + i], 0.5 * static_cast<double>(i)) << "a at row " << i;
  }
}

TEST(PartitionReaderTest, columns_needing_conversion_or_chunks_go_through_hdf5) {
  sluice::testing_support::TempDir dir;
  {
    auto file = sluice::hdf5::File::create(dir / "mixed.h5");
    write_raw<double>(file.id(), "x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {1, 2, 3});
    write_raw<float>(file.id(), "f", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {1, 2, 3});
    write_raw<double>(file.id(), "big_endian", H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, {1, 2, 3});
    sluice::hdf5::ColumnWriter::create(file.id(), "chunked", 3, {.chunk_rows = 2})
        .write(0, std::vector<double>{1, 2, 3});
  }
  EXPECT_TRUE(PartitionReader(dir / "mixed.h5", "/", {"x"}).reads_directly());
  for (const char* other : {"f", "big_endian", "chunked"}) {
    PartitionReader reader(dir / "mixed.h5", "/", {"x", other});
    EXPECT_FALSE(reader.reads_directly()) << other;
    std::vector<double> block(6);
    reader.read_block(0, 3, block.data(), 3);
    EXPECT_EQ(block, (std::vector<double>{1, 2, 3, 1, 2, 3})) << other;
  }
}

TEST(PartitionReaderTest, threads_sharing_a_block_read_give_the_serial_bits_and_checksum) {
  sluice::testing_support::TempDir dir;
  const auto path = write_with_user_block(dir / "plain.h5", 20000);
  const auto read_all = [&](int threads) {
    PartitionReader reader(path, "/", {"a", "b"});
    std::vector<double> block(2 * 20000);
#pragma omp parallel num_threads(threads)
#pragma omp single
    for (std::int64_t row = 0; row < 20000; row += 3000) {
      reader.read_block(row, std::min<std::int64_t>(3000, 20000 - row), block.data() + row, 20000);
    }
    return std::make_pair(block, reader.checksum());
  };
  EXPECT_EQ(read_all(1), read_all(4));
}

TEST(PartitionReaderTest, a_file_truncated_while_read_directly_fails_with_its_name) {
  sluice::testing_support::TempDir dir;
  const auto path = write_with_user_block(dir / "shrinks.h5", 100000);
  PartitionReader reader(path, "/", {"a", "b"});
  ASSERT_TRUE(reader.reads_directly());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  std::vector<double> block(2 * 100000);
  try {
    reader.read_block(0, 100000, block.data(), 100000);
    FAIL() << "a read past the end of the file succeeded";
  } catch (const sluice::DataError& error) {
    EXPECT_TRUE(contains(error.what(), path.string())) << error.what();
    EXPECT_TRUE(contains(error.what(), "ends before")) << error.what();
  }
}
