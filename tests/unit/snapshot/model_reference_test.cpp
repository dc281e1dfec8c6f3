// Tests of model references: parsing NAME[@VERSION|@ALIAS], the name rule, and resolving inside
// the registry only.
#include "sluice/snapshot/model_reference.hpp"

#include "sluice/error.hpp"
#include "sluice/registry_name.hpp"
#include "snapshot_fixtures.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>

using namespace sluice::snapshot;

namespace {

std::string config_error_of(std::string_view text) {
  try {
    parse_model_reference(text);
  } catch (const sluice::ConfigError& error) {
    return error.what();
  }
  return "no error";
}

// A registry with model "m", versions 1 and 2, CURRENT = 2, alias production = 1.
SnapshotRegistry make_registry(const std::filesystem::path& root) {
  SnapshotRegistry registry(root);
  for (int i = 0; i < 2; ++i) {
    registry.publish(
        "m", [](const std::filesystem::path& p, std::int64_t v) { sluice::testing_support::write_sealed(p, std::to_string(v)); },
        [](std::int64_t) { return std::string("{}"); });
  }
  registry.set_alias("m", "production", 1, "first");
  return registry;
}

} // namespace

TEST(ModelReferenceTest, parse_reads_name_version_and_alias) {
  const ModelReference plain = parse_model_reference("demo");
  EXPECT_EQ(plain.name, "demo");
  EXPECT_FALSE(plain.version);
  EXPECT_FALSE(plain.alias);
  const ModelReference numbered = parse_model_reference("demo-2.v_1@7");
  EXPECT_EQ(numbered.name, "demo-2.v_1");
  EXPECT_EQ(numbered.version, 7);
  EXPECT_FALSE(numbered.alias);
  EXPECT_EQ(parse_model_reference("demo@007").version, 7);
  const ModelReference aliased = parse_model_reference("demo@production");
  EXPECT_EQ(aliased.alias, "production");
  EXPECT_FALSE(aliased.version);
  EXPECT_EQ(parse_model_reference("demo@2024-prod").alias, "2024-prod");
  EXPECT_EQ(aliased.to_string(), "demo@production");
  EXPECT_EQ(numbered.to_string(), "demo-2.v_1@7");
}

TEST(ModelReferenceTest, parse_refuses_every_escaping_or_malformed_reference) {
  EXPECT_NE(config_error_of("").find("is empty"), std::string::npos);
  EXPECT_NE(config_error_of("../etc").find("'../etc'"), std::string::npos);
  EXPECT_NE(config_error_of("a/b").find("found '/' at byte 1"), std::string::npos);
  EXPECT_NE(config_error_of("..").find("must start with a letter or a digit"), std::string::npos);
  EXPECT_NE(config_error_of("a..b").find("must not contain '..'"), std::string::npos);
  EXPECT_NE(config_error_of(".hidden").find("must start with a letter or a digit"), std::string::npos);
  EXPECT_NE(config_error_of("-rf").find("must start with a letter or a digit"), std::string::npos);
  EXPECT_NE(config_error_of(std::string("a\0b", 3)).find("found '\\x00' at byte 1"), std::string::npos);
  EXPECT_NE(config_error_of("a\nb").find("'a\\x0ab'"), std::string::npos);
  EXPECT_NE(config_error_of("demo@").find("the alias is empty"), std::string::npos);
  EXPECT_NE(config_error_of("@7").find("the model name is empty"), std::string::npos);
  EXPECT_NE(config_error_of("demo@0").find("version must be 1.."), std::string::npos);
  EXPECT_NE(config_error_of("demo@99999999999999999999").find("version must be 1.."), std::string::npos);
  EXPECT_NE(config_error_of("demo@a/b").find("the alias"), std::string::npos);
  EXPECT_NE(config_error_of("demo@../x").find("the alias"), std::string::npos);
  EXPECT_NE(config_error_of("demo@x@y").find("found '@'"), std::string::npos);
  EXPECT_NE(config_error_of("/abs/path").find("found '/' at byte 0"), std::string::npos);
  // 129 bytes is one too many; 128 is fine.
  EXPECT_NE(config_error_of(std::string(129, 'n')).find("is 129 bytes long, at most 128"), std::string::npos);
  EXPECT_EQ(parse_model_reference(std::string(128, 'n')).name.size(), 128u);
  // A huge input is quoted only in part.
  const std::string message = config_error_of(std::string(100000, 'x') + "/");
  EXPECT_LT(message.size(), 300u) << message;
  EXPECT_NE(message.find("xxx...'"), std::string::npos) << message;
}

TEST(ModelReferenceTest, alias_names_follow_the_name_rule_and_are_not_numbers) {
  EXPECT_NO_THROW(check_alias_name("production"));
  EXPECT_NO_THROW(check_alias_name("v2"));
  EXPECT_THROW(check_alias_name("12"), sluice::ConfigError);
  EXPECT_THROW(check_alias_name("../x"), sluice::ConfigError);
  EXPECT_THROW(check_alias_name(".tmp"), sluice::ConfigError);
  EXPECT_THROW(check_alias_name(""), sluice::ConfigError);
  EXPECT_EQ(sluice::registry_name_problem("ok-Name_1.2"), std::nullopt);
}

TEST(ModelReferenceTest, resolve_follows_current_versions_and_aliases) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry = make_registry(dir.path());
  const ResolvedSnapshot current = resolve(registry, parse_model_reference("m"));
  EXPECT_EQ(current.name, "m");
  EXPECT_EQ(current.version, 2);
  EXPECT_EQ(current.path, dir / "m" / "v000002.h5");
  EXPECT_EQ(resolve(registry, parse_model_reference("m@1")).version, 1);
  EXPECT_EQ(resolve(registry, parse_model_reference("m@production")).path, dir / "m" / "v000001.h5");
  EXPECT_THROW(resolve(registry, parse_model_reference("m@3")), sluice::ConfigError);
  EXPECT_THROW(resolve(registry, parse_model_reference("m@staging")), sluice::ConfigError);
  EXPECT_THROW(resolve(registry, parse_model_reference("other")), sluice::ConfigError);
  EXPECT_THROW(resolve(registry, ModelReference{.name = "../m", .version = {}, .alias = {}}), sluice::ConfigError);
  EXPECT_THROW(resolve(registry, ModelReference{.name = "m", .version = {}, .alias = "../../x"}), sluice::ConfigError);
}

TEST(ModelReferenceTest, resolve_refuses_links_out_of_the_registry_and_a_registry_that_is_a_file) {
  sluice::testing_support::TempDir dir;
  std::filesystem::create_directories(dir / "registry");
  SnapshotRegistry registry = make_registry(dir / "outside");
  SnapshotRegistry inside(dir / "registry");
  // A model directory that is a link to another registry's model.
  std::filesystem::create_directory_symlink(dir / "outside" / "m", dir / "registry" / "linked");
  try {
    resolve(inside, parse_model_reference("linked"));
    FAIL() << "resolved through a link out of the registry";
  } catch (const sluice::DataError& error) {
    EXPECT_NE(std::string(error.what()).find("leads outside the registry"), std::string::npos) << error.what();
  }
  // A model directory inside whose snapshot is a link out.
  std::filesystem::create_directories(dir / "registry" / "m");
  std::filesystem::create_symlink(dir / "outside" / "m" / "v000001.h5", dir / "registry" / "m" / "v000001.h5");
  std::ofstream(dir / "registry" / "m" / "CURRENT") << "v000001.h5\n";
  EXPECT_THROW(resolve(inside, parse_model_reference("m")), sluice::DataError);
  EXPECT_THROW(resolve(inside, parse_model_reference("m@1")), sluice::DataError);
  // A link that stays inside the registry is fine.
  std::filesystem::create_directory_symlink(dir / "registry" / "m", dir / "registry" / "same");
  std::filesystem::remove(dir / "registry" / "m" / "v000001.h5");
  std::filesystem::copy_file(dir / "outside" / "m" / "v000001.h5", dir / "registry" / "m" / "v000001.h5");
  EXPECT_EQ(resolve(inside, parse_model_reference("same")).version, 1);
  // A registry that is a file.
  std::ofstream(dir / "file") << "x";
  EXPECT_THROW(resolve(SnapshotRegistry(dir / "file"), parse_model_reference("m")), sluice::ConfigError);
  EXPECT_THROW(SnapshotRegistry(dir / "file").check_publishable("m"), sluice::ConfigError);
}

TEST(ModelReferenceTest, corrupt_pointers_are_data_errors_quoting_a_bounded_prefix) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry = make_registry(dir.path());
  std::ofstream(dir / "m" / "aliases" / "broken") << std::string(5000, 'z') << "\n";
  try {
    resolve(registry, parse_model_reference("m@broken"));
    FAIL();
  } catch (const sluice::DataError& error) {
    EXPECT_LT(std::string(error.what()).size(), 400u) << error.what();
    EXPECT_NE(std::string(error.what()).find("does not name a snapshot"), std::string::npos);
  }
}
