// The quarantine of scripts that stalled a worker (lua/quarantine.h) and
// how a set load applies it (lua/script_set.h): unchanged files are left
// out with a warning, edited ones load, lifting it changes the set's hash.
#include "lua/quarantine.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "lua/script_set.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;

class QuarantineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe-quar-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    file_ = dir_ + "/" + kQuarantineFileName;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << text;
  }
  std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static std::vector<std::string> keys(const ScriptSet& s) {
    std::vector<std::string> out;
    for (const ScriptFile& f : s.flow) out.push_back(f.key);
    return out;
  }

  std::string dir_, file_;
};

constexpr char kSlow[] = "return { hooks = { flowEnd = function() end } }\n";
constexpr char kFast[] = "return { hooks = { flowBegin = function() end } }\n";

TEST_F(QuarantineTest, Sha256IsTheStandardOne) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(QuarantineTest, AMissingFileQuarantinesNothing) {
  std::vector<std::string> problems;
  EXPECT_TRUE(read_quarantine(file_, &problems).empty());
  EXPECT_TRUE(problems.empty());
  bool found = true;
  std::string why;
  EXPECT_TRUE(remove_quarantine(file_, "flow/x", &found, &why)) << why;
  EXPECT_FALSE(found);
  EXPECT_FALSE(fs::exists(file_));  // nothing to remove: not created either
}

TEST_F(QuarantineTest, AddWritesOneLinePerKeyAndReplacesAnOlderOne) {
  std::string why;
  ASSERT_TRUE(add_quarantine(file_, "flow/slow", "v1", &why)) << why;
  ASSERT_TRUE(add_quarantine(file_, "flow/other", "o", &why)) << why;
  ASSERT_TRUE(add_quarantine(file_, "flow/slow", "v2", &why)) << why;
  EXPECT_EQ(read(file_),
            "flow/other " + sha256_hex("o") + "\nflow/slow " + sha256_hex("v2") + "\n");
  EXPECT_EQ(read_quarantine(file_),
            (std::vector<QuarantineEntry>{{"flow/other", sha256_hex("o")},
                                          {"flow/slow", sha256_hex("v2")}}));
  EXPECT_FALSE(fs::exists(file_ + ".tmp"));
}

TEST_F(QuarantineTest, RemoveKeepsOtherLinesAndComments) {
  write(file_, "# stalled on 2026-11-02\nflow/a " + sha256_hex("a") + "\nflow/b " +
                   sha256_hex("b") + "\n");
  bool found = false;
  std::string why;
  ASSERT_TRUE(remove_quarantine(file_, "flow/a", &found, &why)) << why;
  EXPECT_TRUE(found);
  EXPECT_EQ(read(file_), "# stalled on 2026-11-02\nflow/b " + sha256_hex("b") + "\n");
  ASSERT_TRUE(remove_quarantine(file_, "flow/a", &found, &why)) << why;
  EXPECT_FALSE(found);
}

TEST_F(QuarantineTest, UnreadableLinesAreReportedAndSkipped) {
  write(file_, "\nflow/a " + sha256_hex("a") + "\nflow/b deadbeef\nflow/c\n  # note\n");
  std::vector<std::string> problems;
  const auto entries = read_quarantine(file_, &problems);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].key, "flow/a");
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "lua-quarantine:3: not \"<script key> <SHA-256 in hex>\"; line ignored",
                          "lua-quarantine:4: not \"<script key> <SHA-256 in hex>\"; line ignored"}));
}

TEST_F(QuarantineTest, OnlyTheStalledContentIsQuarantined) {
  const std::vector<QuarantineEntry> q{{"flow/slow", sha256_hex(kSlow)}};
  EXPECT_TRUE(is_quarantined(q, "flow/slow", kSlow));
  EXPECT_FALSE(is_quarantined(q, "flow/slow", kFast));   // edited
  EXPECT_FALSE(is_quarantined(q, "flow/other", kSlow));  // another script
}

TEST_F(QuarantineTest, ASetInMemoryLeavesOutTheQuarantinedFile) {
  const std::map<std::string, std::string> files{{"flow/slow.lua", kSlow},
                                                 {"flow/fast.lua", kFast}};
  const ScriptSet plain = script_set_from(files);
  const ScriptSet q = script_set_from(files, {}, {{"flow/slow", sha256_hex(kSlow)}});
  EXPECT_EQ(keys(plain), (std::vector<std::string>{"flow/fast", "flow/slow"}));
  EXPECT_EQ(keys(q), (std::vector<std::string>{"flow/fast"}));
  EXPECT_EQ(q.quarantined, (std::vector<std::string>{"flow/slow"}));
  ASSERT_EQ(q.warnings.size(), 1u);
  EXPECT_EQ(q.warnings[0], quarantine_warning("flow/slow"));
  EXPECT_NE(q.warnings[0].find("flow/slow.lua: quarantined"), std::string::npos);
  // Lifting the quarantine must not look like "set unchanged" on SIGHUP.
  EXPECT_NE(q.hash, plain.hash);
  // A quarantine of another content changes nothing, hash included.
  const ScriptSet other = script_set_from(files, {}, {{"flow/slow", sha256_hex("old")}});
  EXPECT_EQ(keys(other), keys(plain));
  EXPECT_EQ(other.hash, plain.hash);
}

TEST_F(QuarantineTest, ReadingADirectoryAppliesTheFile) {
  const std::string scripts = dir_ + "/scripts";
  write(scripts + "/flow/slow.lua", kSlow);
  write(scripts + "/flow/fast.lua", kFast);
  std::string why;
  ASSERT_TRUE(add_quarantine(file_, "flow/slow", kSlow, &why)) << why;

  std::vector<std::string> errors;
  const ScriptSet without = read_script_set(scripts, "x", errors);
  const ScriptSet unchanged = read_script_set(scripts, "x", errors, file_);
  ASSERT_TRUE(errors.empty());
  EXPECT_EQ(keys(without), (std::vector<std::string>{"flow/fast", "flow/slow"}));
  EXPECT_EQ(keys(unchanged), (std::vector<std::string>{"flow/fast"}));
  EXPECT_EQ(unchanged.warnings.size(), 1u);
  // The file stays readable for require/dofile; only its hooks are out.
  EXPECT_NE(unchanged.find_code("flow/slow.lua"), nullptr);

  // Edited: loaded again, no warning, the file's line stays until lifted.
  write(scripts + "/flow/slow.lua", std::string(kSlow) + "-- fixed\n");
  const ScriptSet edited = read_script_set(scripts, "x", errors, file_);
  EXPECT_EQ(keys(edited), (std::vector<std::string>{"flow/fast", "flow/slow"}));
  EXPECT_TRUE(edited.warnings.empty());
  EXPECT_TRUE(edited.quarantined.empty());
  EXPECT_EQ(read_quarantine(file_).size(), 1u);

  // No file configured: nothing is read.
  EXPECT_EQ(keys(read_script_set(scripts, "x", errors, "")), keys(edited));
}

}  // namespace
}  // namespace loupe
