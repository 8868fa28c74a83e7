// Table: aligned plain-text columns for people (`--json` is for scripts).
//
// Thread-safety: a Table is a value; not shared.
#pragma once

#include <string>
#include <vector>

namespace gpuslice::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  // Columns separated by two spaces, header first; the last column is not padded.
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace gpuslice::cli
