#include "load_driver.hpp"

#include "event_producer.hpp"
#include "floor_reader.hpp"
#include "jwt_mint.hpp"
#include "proc_stats.hpp"
#include "realtime_clock.hpp"
#include "results_json.hpp"
#include "run_record.hpp"
#include "shared_stats.hpp"
#include "socket_fleet.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <thread>

namespace bench {
namespace {

using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point t) {
    return std::chrono::duration<double>(steady::now() - t).count();
}

// Raises the soft descriptor limit to the hard one; returns the limit in force.
std::size_t raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return static_cast<std::size_t>(rl.rlim_cur);
}

void sample_all(std::vector<worker_samples>& ws, std::optional<proc_sample> worker_samples::*when) {
    for (auto& w : ws) w.*when = sample_process(w.pid);
}

// Sum of the CPU seconds of a set of processes (the load generator's own).
double cpu_of(const std::vector<pid_t>& pids) {
    double total = 0;
    for (auto p : pids)
        if (auto s = sample_process(p)) total += s->cpu_s;
    return total;
}

std::vector<pid_t> spawn_socket_procs(fleet_options base, shared_stats& stats) {
    std::vector<pid_t> children;
    for (std::size_t i = 0; i < base.procs; ++i) {
        pid_t pid = fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the parent
            base.proc_index = i;
            try {
                run_socket_fleet(base, stats);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "bench_loadgen: socket process %zu: %s\n", i, e.what());
                _exit(3);
            }
            _exit(0);  // the kernel closes the sockets; counters are in shared memory
        }
        children.push_back(pid);
    }
    return children;
}

bool all_connected(shared_stats& stats) {
    for (std::size_t i = 0; i < stats.procs(); ++i)
        if (!stats.proc(i).connect_done.load()) return false;
    return true;
}

void wait_connected(shared_stats& stats, const load_options& o) {
    auto t0 = steady::now();
    auto last = t0;
    while (!all_connected(stats)) {
        if (seconds_since(t0) > o.connect_timeout_s) {
            std::fprintf(stderr, "[loadgen] connect timeout after %.0f s\n", o.connect_timeout_s);
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (std::chrono::duration<double>(steady::now() - last).count() >= 1) {
            last = steady::now();
            std::fprintf(stderr, "[loadgen] %5.1fs connecting: %llu open, %llu failed of %zu\n", seconds_since(t0),
                         static_cast<unsigned long long>(stats.sum(&socket_proc_stats::opened)),
                         static_cast<unsigned long long>(stats.sum(&socket_proc_stats::failed)), o.sockets);
        }
    }
}

// Produces for the configured time; returns with the window closed.
class production {
public:
    production(const load_options& o, shared_stats& stats, std::vector<std::string> users)
        : o_(o), stats_(stats), producer_({o.brokers, o.topic, o.linger_ms, o.payload_bytes}, std::move(users)) {
        for (std::size_t u = 0; u < o.users; ++u) socks_.push_back(stats.sockets_of_user(u).load());
        double gap_us = o.rate > 0 ? 1e6 / o.rate : 200;
        pause_ = std::chrono::microseconds(static_cast<long>(std::clamp(gap_us, 50.0, 1000.0)));
        if (!producer_.wait_ready(10000)) throw std::runtime_error("no metadata for topic " + o.topic + " from " + o.brokers);
    }

    void run(run_record& rec, const std::vector<pid_t>& children) {
        auto& control = stats_.control();
        auto t0 = steady::now();
        std::int64_t start_ns = realtime_ns() + static_cast<std::int64_t>(o_.warmup_s * 1e9);
        control.window_start_ns.store(start_ns);
        bool started = false;
        double parent_cpu0 = 0, children_cpu0 = 0, next_report = 1;
        const std::vector<pid_t> self{getpid()};
        std::uint64_t last_sent = 0, last_frames = 0;
        for (double t = 0; t < o_.duration_s; t = seconds_since(t0)) {
            if (!started && t >= o_.warmup_s) {
                started = true;
                sample_all(rec.workers, &worker_samples::start);
                parent_cpu0 = cpu_of(self);
                children_cpu0 = cpu_of(children);
            }
            // Idle: wait for the next token (at most 1 ms, tokens then go out in small bursts).
            if (send_some(t) == 0) std::this_thread::sleep_for(pause_);
            producer_.poll(0);
            if (t >= next_report) {
                std::uint64_t frames = stats_.sum(&socket_proc_stats::frames);
                report(t, producer_.sent() - last_sent, frames - last_frames, frames);
                last_sent = producer_.sent();
                last_frames = frames;
                next_report += 1;
            }
        }
        std::int64_t end_ns = realtime_ns();
        control.window_end_ns.store(end_ns);
        sample_all(rec.workers, &worker_samples::end);
        if (started) {
            rec.producer_cpu_window_s = cpu_of(self) - parent_cpu0;
            rec.sockets_cpu_window_s = cpu_of(children) - children_cpu0;
        }
        rec.production_s = seconds_since(t0);
        rec.window_s = std::max(0.0, static_cast<double>(end_ns - start_ns) / 1e9);
    }

    // Waits for the broker's acknowledgements, then for the sockets to receive the rest.
    void drain(run_record& rec) {
        auto t0 = steady::now();
        producer_.flush(30000);
        rec.sent = producer_.sent();
        rec.acked = producer_.acked();
        rec.produce_failed = producer_.failed();
        rec.produce_error = producer_.first_error();
        rec.expected = 0;
        for (std::size_t u = 0; u < o_.users; ++u) rec.expected += producer_.acked_of(u) * socks_[u];
        std::uint64_t frames = stats_.sum(&socket_proc_stats::frames), last = frames;
        auto progress_at = steady::now();
        while (frames < rec.expected && seconds_since(progress_at) < o_.drain_s) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            frames = stats_.sum(&socket_proc_stats::frames);
            if (frames != last) { last = frames; progress_at = steady::now(); }
        }
        rec.drain_s = seconds_since(t0);
        std::fprintf(stderr, "[loadgen] drained in %.1fs: %llu of %llu deliveries\n", rec.drain_s,
                     static_cast<unsigned long long>(frames), static_cast<unsigned long long>(rec.expected));
    }

private:
    // Sends what the token bucket or the in-flight window allows now; returns how many.
    std::size_t send_some(double t) {
        std::size_t n = 0;
        if (o_.rate > 0) {
            auto due = static_cast<std::uint64_t>(o_.rate * t);
            n = due > offered_ ? static_cast<std::size_t>(std::min<std::uint64_t>(due - offered_, 5000)) : 0;
            for (std::size_t i = 0; i < n; ++i) send_next();
            return n;
        }
        std::uint64_t frames = stats_.sum(&socket_proc_stats::frames);
        for (; n < 2000 && expected_sent_ < frames + o_.max_inflight; ++n) send_next();
        return n;
    }

    void send_next() {
        std::size_t u = next_user_;
        next_user_ = (next_user_ + 1) % o_.users;
        ++offered_;
        // A user without sockets expects nothing; still counted as produced load.
        if (producer_.send(u)) expected_sent_ += socks_[u] ? socks_[u] : 0;
    }

    void report(double t, std::uint64_t sent, std::uint64_t frames, std::uint64_t total_frames) {
        std::fprintf(stderr, "[loadgen] %5.1fs sent %llu/s delivered %llu/s inflight %lld closed %llu\n", t,
                     static_cast<unsigned long long>(sent), static_cast<unsigned long long>(frames),
                     static_cast<long long>(expected_sent_) - static_cast<long long>(total_frames),
                     static_cast<unsigned long long>(stats_.sum(&socket_proc_stats::closed_early)));
    }

    const load_options& o_;
    shared_stats& stats_;
    event_producer producer_;
    std::vector<std::uint64_t> socks_;
    std::uint64_t expected_sent_ = 0;
    std::uint64_t offered_ = 0;  // send attempts, for the token bucket
    std::size_t next_user_ = 0;
    std::chrono::microseconds pause_{200};
};

std::vector<std::string> user_names(const load_options& o) {
    std::vector<std::string> users;
    users.reserve(o.users);
    for (std::size_t u = 0; u < o.users; ++u) users.push_back(o.user_prefix + std::to_string(u));
    return users;
}

void stop_children(shared_stats& stats, const std::vector<pid_t>& children) {
    stats.control().stop.store(1);
    for (auto pid : children) {
        int status = 0;
        waitpid(pid, &status, 0);
    }
}

// The Kafka floor: the same production read back by a plain consumer, one "socket" per user.
int run_floor(const load_options& o, std::ostream& out, run_record& rec, const std::vector<std::string>& users) {
    rec.procs = 1;
    shared_stats stats(1, o.users);
    for (std::size_t u = 0; u < o.users; ++u) stats.sockets_of_user(u).store(1);
    stats.proc(0).assigned.store(o.users);
    stats.proc(0).opened.store(o.users);
    floor_reader reader(o.brokers, o.topic, stats);
    production prod(o, stats, users);
    prod.run(rec, {});
    prod.drain(rec);
    reader.stop();
    load_options shown = o;
    shown.sockets = o.users;
    write_results(out, stats, shown, rec);
    return 0;
}

}  // namespace

int run_load(const load_options& o, std::ostream& out) {
    if (!o.kafka_floor && (o.urls.empty() || o.jwt_secret.empty()))
        throw std::runtime_error("--url and --jwt-secret are required (unless --kafka-floor)");
    if (o.users == 0 || o.sockets == 0) throw std::runtime_error("--users and --sockets must be positive");
    run_record rec;
    rec.fd_limit = raise_fd_limit();
    std::size_t per_proc = rec.fd_limit > 512 ? rec.fd_limit - 256 : rec.fd_limit / 2;
    rec.procs = o.procs ? o.procs : (o.sockets + per_proc - 1) / per_proc;

    // Tokens before fork: the socket processes inherit them.
    auto users = user_names(o);
    fleet_options fo;
    fo.urls = o.urls;
    fo.users = o.users;
    fo.sockets = o.sockets;
    fo.procs = rec.procs;
    fo.source_addrs = o.source_addrs;
    fo.connect_concurrency = std::max<std::size_t>(1, o.connect_concurrency / rec.procs);
    std::int64_t exp = realtime_ns() / 1000000000 + 6 * 3600;
    for (auto& u : users) fo.tokens.push_back(mint_hs256(o.jwt_secret, u, exp));

    for (int pid : o.pids) rec.workers.push_back({static_cast<pid_t>(pid), {}, {}, {}, {}});
    sample_all(rec.workers, &worker_samples::before);
    if (o.kafka_floor) return run_floor(o, out, rec, users);
    shared_stats stats(rec.procs, o.users);
    auto t0 = steady::now();
    auto children = spawn_socket_procs(fo, stats);
    wait_connected(stats, o);
    rec.connect_s = seconds_since(t0);
    std::fprintf(stderr, "[loadgen] %llu of %zu sockets open in %.1fs (%zu processes)\n",
                 static_cast<unsigned long long>(stats.sum(&socket_proc_stats::opened)), o.sockets, rec.connect_s,
                 rec.procs);

    if (o.idle) {
        std::this_thread::sleep_for(std::chrono::duration<double>(o.settle_s));
        sample_all(rec.workers, &worker_samples::connected);
        sample_all(rec.workers, &worker_samples::end);
    } else {
        sample_all(rec.workers, &worker_samples::connected);
        production prod(o, stats, users);
        prod.run(rec, children);
        prod.drain(rec);
    }
    stop_children(stats, children);
    write_results(out, stats, o, rec);
    return 0;
}

}  // namespace bench
