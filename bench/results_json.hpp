// The load generator's output: one JSON object with every figure of a run.
#pragma once

#include "load_driver.hpp"
#include "run_record.hpp"
#include "shared_stats.hpp"

#include <ostream>

namespace bench {

void write_results(std::ostream& out, shared_stats& stats, const load_options& o, const run_record& rec);

}  // namespace bench
