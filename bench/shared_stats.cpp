#include "shared_stats.hpp"

#include <sys/mman.h>

#include <new>
#include <stdexcept>

namespace bench {

static std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

shared_stats::shared_stats(std::size_t procs, std::size_t users) : nprocs_(procs), nusers_(users) {
    std::size_t control_bytes = round_up(sizeof(shared_control), 64);
    std::size_t procs_bytes = round_up(sizeof(socket_proc_stats) * procs, 64);
    bytes_ = control_bytes + procs_bytes + sizeof(std::atomic<std::uint32_t>) * users;
    base_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED) throw std::runtime_error("mmap of the shared counters failed");
    auto* p = static_cast<char*>(base_);
    control_ = new (p) shared_control();
    procs_ = reinterpret_cast<socket_proc_stats*>(p + control_bytes);
    for (std::size_t i = 0; i < procs; ++i) new (&procs_[i]) socket_proc_stats();
    users_ = reinterpret_cast<std::atomic<std::uint32_t>*>(p + control_bytes + procs_bytes);
    for (std::size_t u = 0; u < users; ++u) new (&users_[u]) std::atomic<std::uint32_t>(0);
    // Anonymous mappings start zeroed: the arrays without initialisers are zero too.
}

shared_stats::~shared_stats() {
    if (base_ && base_ != MAP_FAILED) munmap(base_, bytes_);
}

std::uint64_t shared_stats::sum(std::atomic<std::uint64_t> socket_proc_stats::*field) const {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < nprocs_; ++i) total += (procs_[i].*field).load(std::memory_order_relaxed);
    return total;
}

}  // namespace bench
