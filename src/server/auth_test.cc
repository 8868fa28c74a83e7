// Tokens: creation, hashing at rest, authentication, the role x permission matrix, revocation and
// the first-start admin token file.
#include "server/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "store/memory_store.h"

namespace gpuslice::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(AuthTest, TokensAreRandomAndOnlyTheirHashIsStored) {
  store::MemoryStore store;
  TokenBook book(store);
  const std::string a = book.Create({Role::kTeam, "nlp", "alice"}).value();
  const std::string b = book.Create({Role::kTeam, "nlp", "bob"}).value();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 68u);
  const std::map<std::string, std::string> stored = store.List(store::Collection::kTokens).value();
  for (const auto& [key, value] : stored) {
    EXPECT_NE(key, a);
    EXPECT_THAT(value, Not(HasSubstr(a)));
  }
  EXPECT_EQ(HashToken(a).size(), 64u);
  const Principal p = book.Authenticate(a).value();
  EXPECT_EQ(p.role, Role::kTeam);
  EXPECT_EQ(p.team, "nlp");
  EXPECT_EQ(p.name, "alice");
}

TEST(AuthTest, UnknownOrMalformedTokensAreDeniedWithoutEchoingThem) {
  store::MemoryStore store;
  TokenBook book(store);
  const std::string fake = "gst_" + std::string(64, 'a');
  for (const std::string& t : {std::string(), std::string("hunter2"), fake}) {
    const Result<Principal> p = book.Authenticate(t);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, ErrorCode::kPermissionDenied);
    if (!t.empty()) {
      EXPECT_THAT(p.error().message, Not(HasSubstr(t)));
    }
  }
  const std::string t = book.Create({Role::kNode, "", "node-1"}).value();
  ASSERT_TRUE(book.Revoke(HashToken(t)));
  EXPECT_FALSE(book.Authenticate(t));
  EXPECT_EQ(book.Revoke(HashToken(t)).error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(book.Create({Role::kTeam, "", "no-team"}));
  EXPECT_FALSE(book.Create({Role::kNode, "", "bad name"}));
}

TEST(AuthTest, RoleByPermissionMatrix) {
  const Principal admin{Role::kAdmin, "", "admin"}, team{Role::kTeam, "nlp", "t"}, node{Role::kNode, "", "n"};
  struct Row {
    Permission what;
    bool admin, team, node;
  };
  for (const Row& r :
       {Row{Permission::kReadCluster, true, true, false}, Row{Permission::kSubmitJob, true, true, false},
        Row{Permission::kAdminister, true, false, false}, Row{Permission::kAgent, true, false, true}}) {
    EXPECT_EQ(Allows(admin, r.what), r.admin);
    EXPECT_EQ(Allows(team, r.what), r.team);
    EXPECT_EQ(Allows(node, r.what), r.node);
  }
  EXPECT_TRUE(CanActOnTeam(admin, "vision"));
  EXPECT_TRUE(CanActOnTeam(team, "nlp"));
  EXPECT_FALSE(CanActOnTeam(team, "vision"));
  EXPECT_FALSE(CanActOnTeam(node, "nlp"));
}

TEST(AuthTest, TheFirstStartWritesTheAdminTokenOnceWithMode0600) {
  const std::string dir = ::testing::TempDir() + "/auth-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/admin.token";
  store::MemoryStore store;
  TokenBook book(store);
  ASSERT_TRUE(book.EnsureAdmin(path).value());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string token;
  std::ifstream(path) >> token;
  EXPECT_EQ(book.Authenticate(token).value().role, Role::kAdmin);
  EXPECT_FALSE(book.EnsureAdmin(path).value());  // there is one already: nothing new
  // A token file without its record in the store is a state a person must resolve.
  store::MemoryStore empty;
  TokenBook other(empty);
  EXPECT_EQ(other.EnsureAdmin(path).error().code, ErrorCode::kFailedPrecondition);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gpuslice::server
