#include "server/auth.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "api/node_state.h"

namespace gpuslice::server {
namespace {

using nlohmann::json;

constexpr std::string_view kPrefix = "gst_";
constexpr std::size_t kTokenBytes = 32;

std::string Hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

// A stored token record, {"role", "name", "team"}. Errors: kInternal for a damaged record.
Result<Principal> DecodeRecord(std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("role") || !j["role"].is_string()) {
    return Fail(ErrorCode::kInternal, "a token record is damaged");
  }
  const std::string role = j["role"].get<std::string>();
  const std::optional<Role> r = RoleFromName(role);
  if (!r) return Fail(ErrorCode::kInternal, "unknown role '{}' in the token table", role);
  Principal p;
  p.role = *r;
  if (j.contains("team") && j["team"].is_string()) p.team = j["team"].get<std::string>();
  if (j.contains("name") && j["name"].is_string()) p.name = j["name"].get<std::string>();
  return p;
}

}  // namespace

std::optional<Role> RoleFromName(std::string_view s) {
  for (Role r : {Role::kAdmin, Role::kTeam, Role::kNode}) {
    if (RoleName(r) == s) return r;
  }
  return std::nullopt;
}

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kAdmin: return "admin";
    case Role::kTeam: return "team";
    case Role::kNode: return "node";
  }
  return "team";
}

bool Allows(const Principal& who, Permission what) {
  switch (what) {
    case Permission::kReadCluster:
    case Permission::kSubmitJob: return who.role == Role::kAdmin || who.role == Role::kTeam;
    case Permission::kAdminister: return who.role == Role::kAdmin;
    case Permission::kAgent: return who.role == Role::kNode || who.role == Role::kAdmin;
  }
  return false;
}

bool CanActOnTeam(const Principal& who, std::string_view team) {
  return who.role == Role::kAdmin || (who.role == Role::kTeam && who.team == team);
}

Result<std::string> NewToken() {
  std::array<unsigned char, kTokenBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return Fail(ErrorCode::kUnavailable, "the OS random source did not answer");
  }
  return std::string(kPrefix) + Hex(bytes.data(), bytes.size());
}

std::string HashToken(std::string_view token) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int n = 0;
  EVP_Digest(token.data(), token.size(), digest.data(), &n, EVP_sha256(), nullptr);
  return Hex(digest.data(), n);
}

Result<std::string> TokenBook::Create(const Principal& who) {
  if (!api::IsSaneName(who.name)) {
    return Fail(ErrorCode::kInvalidArgument, "token name '{}' is not a valid name", who.name.substr(0, 64));
  }
  if (who.role == Role::kTeam && !api::IsSaneName(who.team)) {
    return Fail(ErrorCode::kInvalidArgument, "a team token needs a team");
  }
  Result<std::string> token = NewToken();
  if (!token) return Fail(token.error());
  json value{{"role", RoleName(who.role)}, {"name", who.name}};
  if (who.role == Role::kTeam) value["team"] = who.team;
  store::WriteBatch batch;
  batch.Put(store::Collection::kTokens, HashToken(*token), value.dump());
  batch.AppendEvent("token-created", json{{"role", RoleName(who.role)}, {"name", who.name}}.dump());
  if (Result<store::CommitInfo> c = store_.Apply(batch); !c) return Fail(c.error());
  return token;
}

Result<std::vector<TokenBook::Entry>> TokenBook::List() const {
  Result<std::map<std::string, std::string>> all = store_.List(store::Collection::kTokens);
  if (!all) return Fail(all.error());
  std::vector<Entry> out;
  for (const auto& [hash, text] : *all) {
    if (Result<Principal> who = DecodeRecord(text); who) out.push_back(Entry{hash, std::move(*who)});
  }
  return out;
}

Result<Principal> TokenBook::Authenticate(std::string_view bearer) const {
  if (bearer.empty())
    return Fail(ErrorCode::kPermissionDenied, "no bearer token (Authorization: Bearer gst_…)");
  if (bearer.size() != kPrefix.size() + 2 * kTokenBytes || bearer.substr(0, kPrefix.size()) != kPrefix) {
    return Fail(ErrorCode::kPermissionDenied, "not a gpuslice token");
  }
  Result<std::string> value = store_.Get(store::Collection::kTokens, HashToken(bearer));
  if (!value) {
    if (value.error().code == ErrorCode::kNotFound)
      return Fail(ErrorCode::kPermissionDenied, "unknown token");
    return Fail(value.error());
  }
  return DecodeRecord(*value);
}

Result<void> TokenBook::Revoke(std::string_view token_hash) {
  if (Result<std::string> v = store_.Get(store::Collection::kTokens, token_hash); !v) return Fail(v.error());
  store::WriteBatch batch;
  batch.Delete(store::Collection::kTokens, std::string(token_hash));
  batch.AppendEvent("token-revoked", json{{"hash_prefix", std::string(token_hash.substr(0, 8))}}.dump());
  if (Result<store::CommitInfo> c = store_.Apply(batch); !c) return Fail(c.error());
  return {};
}

Result<bool> TokenBook::EnsureAdmin(const std::string& path) {
  Result<std::map<std::string, std::string>> tokens = store_.List(store::Collection::kTokens);
  if (!tokens) return Fail(tokens.error());
  for (const auto& [hash, value] : *tokens) {
    const json j = json::parse(value, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.value("role", "") == "admin") return false;
  }
  if (::access(path.c_str(), F_OK) == 0) {
    return Fail(ErrorCode::kFailedPrecondition,
                "{} exists, but the store has no admin token: remove the file to create a new one", path);
  }
  Result<std::string> token = Create({Role::kAdmin, "", "admin"});
  if (!token) return Fail(token.error());
  // Durable in the store first; if the file cannot be written, the token is revoked again.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  const std::string line = *token + "\n";
  const bool written = fd >= 0 &&
                       ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                       ::fsync(fd) == 0;
  const int saved = errno;
  if (fd >= 0) ::close(fd);
  if (!written) {
    (void)Revoke(HashToken(*token));
    return Fail(ErrorCode::kUnavailable, "cannot write {}: {}", path, std::strerror(saved));
  }
  return true;
}

}  // namespace gpuslice::server
