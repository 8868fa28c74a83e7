// Test helpers for the net tests: raw loopback sockets (to send what HttpClient never would),
// the process's thread count, and a throwaway self-signed certificate. No Boost.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace gpuslice::net::testing {

// Connects to 127.0.0.1:port; returns the fd or -1.
inline int RawConnect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until the peer closes or `timeout` passes with no data.
inline std::string ReadUntilClose(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  std::string out;
  char buf[4096];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// Reads until `needle` appears (or close/timeout); returns everything read.
inline std::string ReadUntil(int fd, std::string_view needle,
                             std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  std::string out;
  char buf[4096];
  while (out.find(needle) == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

inline int ThreadCount() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

inline bool HaveOpenssl() {
  return std::system("which openssl > /dev/null 2>&1") == 0;
}

// Writes cert.pem and key.pem (CN and SAN 127.0.0.1) into `dir`; false when openssl fails.
inline bool MakeSelfSignedCert(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
      (dir / "key.pem").string() + "' -out '" + (dir / "cert.pem").string() + "' > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// A fresh directory under the test temp dir.
inline std::filesystem::path TempDir(std::string_view name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("gpuslice-net-" + std::string(name) + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace gpuslice::net::testing
