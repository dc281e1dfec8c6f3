// The binary records the ranks send rank 0 after the first pass: a round trip keeps every field,
// and a truncated or forged buffer is refused, never read past its end.
#include "coordinator/partition_worker.hpp"

#include "sluice/error.hpp"

#include <gtest/gtest.h>

using namespace sluice;
using coordinator::PartitionOutcome;

namespace {

PartitionOutcome example(std::size_t index, std::string reason) {
  PartitionOutcome o;
  o.index = index;
  o.rows = 1'234'567'890'123;
  o.checksums = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  o.nonfinite = {.num_values = 3, .num_rows = 2, .first_row = 77, .first_column = 4};
  o.seconds = 0.125;
  o.bytes = 987654321;
  o.rank = 3;
  o.is_cached = index % 2 == 1;
  o.skipped_reason = std::move(reason);
  return o;
}

} // namespace

TEST(PartitionRecords, round_trip_keeps_every_field) {
  std::string buffer;
  const std::vector<PartitionOutcome> outcomes = {example(0, ""), example(5, "bad: \0 and ünïcode"),
                                                  example(7, std::string(300, 'x'))};
  for (const PartitionOutcome& o : outcomes) coordinator::append_record(buffer, o);
  const std::vector<PartitionOutcome> read = coordinator::read_records(buffer);
  ASSERT_EQ(read.size(), outcomes.size());
  for (std::size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].index, outcomes[i].index);
    EXPECT_EQ(read[i].rows, outcomes[i].rows);
    EXPECT_EQ(read[i].checksums, outcomes[i].checksums);
    EXPECT_EQ(read[i].nonfinite.num_values, 3);
    EXPECT_EQ(read[i].nonfinite.num_rows, 2);
    EXPECT_EQ(read[i].nonfinite.first_row, 77);
    EXPECT_EQ(read[i].nonfinite.first_column, 4);
    EXPECT_EQ(read[i].seconds, 0.125);
    EXPECT_EQ(read[i].bytes, 987654321);
    EXPECT_EQ(read[i].rank, 3);
    EXPECT_EQ(read[i].is_cached, outcomes[i].is_cached);
    EXPECT_EQ(read[i].skipped_reason, outcomes[i].skipped_reason);
  }
  EXPECT_TRUE(coordinator::read_records("").empty());
}

TEST(PartitionRecords, truncated_or_forged_buffers_are_refused) {
  std::string buffer;
  coordinator::append_record(buffer, example(1, "reason"));
  for (std::size_t cut = 1; cut < buffer.size(); ++cut) {
    EXPECT_THROW(coordinator::read_records(std::string_view(buffer).substr(0, cut)), Error) << cut;
  }
  // A checksum count far beyond the buffer: refused before anything is reserved.
  std::string forged = buffer;
  const std::size_t count_at = 8 * 8 + 4 + 1; // the fixed fields before the checksum count
  const std::uint64_t huge = std::uint64_t{1} << 60;
  std::memcpy(forged.data() + count_at, &huge, sizeof huge);
  EXPECT_THROW(coordinator::read_records(forged), Error);
}
