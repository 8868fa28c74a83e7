// Bearer tokens (DESIGN.md §6): who may call what.
//
// Three roles: admin (everything), team (its own team's jobs; a read-only view of the cluster)
// and node (an agent: register, long-poll its desired state, report). A token is 32 random bytes
// from the OS, shown once as "gst_" + 64 hex digits; the store keeps only its SHA-256 (a stolen
// database does not let anyone in), with the role and team beside it.
//
// The admin token is created on the first start and written to DATA_DIR/admin.token with mode
// 0600; later starts read nothing from that file (its hash is in the store).
//
// Thread-safety: TokenBook is safe to call from any thread (the store is; the cache has a mutex).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "store/state_store.h"

namespace gpuslice::server {

enum class Role { kAdmin, kTeam, kNode };
std::string_view RoleName(Role r);  // "admin", "team", "node"
std::optional<Role> RoleFromName(std::string_view name);

struct Principal {
  Role role = Role::kTeam;
  std::string team;  // kTeam only
  std::string name;  // what the token was created for ("admin", "ci-bot", "node-7")
};

// What an endpoint needs. Team-scoped actions also need the job's team to match (checked by
// the handler with CanActOnTeam).
enum class Permission {
  kReadCluster,  // list nodes, GPUs, teams, metrics, events: admin, team
  kSubmitJob,    // submit, cancel, logs, why on own team's jobs: admin, team
  kAdminister,   // teams, quotas, tokens, cordon/drain, layouts: admin
  kAgent,        // register, desired state, reports: node (and admin, for tools)
};

bool Allows(const Principal& who, Permission what);
// Admin: any team. Team token: only its own. Node: none.
bool CanActOnTeam(const Principal& who, std::string_view team);

// "gst_" + 64 lowercase hex digits from the OS's random source.
Result<std::string> NewToken();
// Lowercase hex SHA-256 of the token.
std::string HashToken(std::string_view token);

class TokenBook {
 public:
  explicit TokenBook(store::StateStore& store) : store_(store) {}

  // Creates a token for `who` and stores its hash (durably); returns the token, shown once.
  // kInvalidArgument for a team token without a team or a bad name.
  Result<std::string> Create(const Principal& who);
  // The principal of a presented token; kPermissionDenied for a missing or unknown token (the
  // message never echoes the token).
  Result<Principal> Authenticate(std::string_view bearer_token) const;
  // Removes a token by its hash. kNotFound.
  Result<void> Revoke(std::string_view token_hash);

  struct Entry {
    std::string hash;  // hex SHA-256 of the token (the token itself is never kept)
    Principal who;
  };
  // Every token, by hash. kUnavailable when the store cannot be read.
  Result<std::vector<Entry>> List() const;

  // On the first start (no admin token in the store), creates one and writes it to `path` with
  // mode 0600 (the file must not exist yet). Returns true when it created one.
  Result<bool> EnsureAdmin(const std::string& path);

 private:
  store::StateStore& store_;
};

}  // namespace gpuslice::server
